package main

import (
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"tandem/state"
)

// The state file's encryption at rest (state/seal.go): on when
// TANDEM_STATE_KEY holds a key; TANDEM_STATE_KEY_OLD holds the keys of a
// rotation still accepted for reading.
const (
	stateKeyEnv    = "TANDEM_STATE_KEY"
	stateKeyOldEnv = "TANDEM_STATE_KEY_OLD"
)

// stateKeys are the keys of the environment; nil when encryption is off.
func stateKeys() (*state.Keys, error) {
	cur, old := os.Getenv(stateKeyEnv), os.Getenv(stateKeyOldEnv)
	switch {
	case cur == "" && old != "":
		return nil, fmt.Errorf("%s is set without %s: a rotation needs the new key too", stateKeyOldEnv, stateKeyEnv)
	case cur == "":
		return nil, nil
	}
	k, err := state.ParseKeys(cur, old)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", stateKeyEnv, err)
	}
	return k, nil
}

// openStore opens the state file for reading and writing, with the
// environment's keys.
func openStore(path string) (*state.Store, error) {
	return withKeys(state.Open(path))
}

// openStoreReadOnly opens the state file read-only, with the
// environment's keys.
func openStoreReadOnly(path string) (*state.Store, error) {
	return withKeys(state.OpenReadOnly(path))
}

func withKeys(s *state.Store, err error) (*state.Store, error) {
	if err != nil {
		return nil, err
	}
	k, err := stateKeys()
	if err != nil {
		s.Close()
		return nil, err
	}
	s.SetKeys(k)
	return s, nil
}

// rekeyPause is the rest between two batches of a rekey, so that passes
// and webhooks go on meanwhile.
const rekeyPause = 50 * time.Millisecond

func rekeyCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "rekey",
		Short: "Seal every stored record value with TANDEM_STATE_KEY (encryption at rest, key rotation)",
		Long: `Encryption at rest: with TANDEM_STATE_KEY set (32 bytes, hex or base64:
'openssl rand -hex 32'), Tandem seals the record values it keeps in the state
file (golden records, snapshots and payloads, conflicts, values in flight,
dead letters) with AES-256-GCM as it writes them. Match keys (emails) and ids
stay plain: Tandem looks records up by them.

rekey seals now what is still plain (written before the key was set) or sealed
with an older key, in small transactions, and says how many records it
rewrote. 'tandem run' does the same in the background when it starts, so
running this by hand is optional.

To rotate the key: set TANDEM_STATE_KEY to the new key and
TANDEM_STATE_KEY_OLD to the old one (several, separated by spaces, if need be),
restart the daemon (or run 'tandem rekey'), and once it reports nothing left
to reseal, drop TANDEM_STATE_KEY_OLD. A value sealed with a key that neither
variable holds cannot be read: the error names the key's id.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			a, err := g.openState()
			if err != nil {
				return err
			}
			defer a.Close()
			k, err := stateKeys()
			if err != nil {
				return err
			}
			if k == nil {
				return fmt.Errorf("%s is not set: nothing to seal with", stateKeyEnv)
			}
			n, err := a.store.Rekey(cmd.Context(), 500, 0)
			if err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "%d records resealed with key %s; every stored value is now sealed with it\n", n, k.ID())
			return nil
		},
	}
}
