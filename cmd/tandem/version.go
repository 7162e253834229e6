package main

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"tandem"
)

func versionCmd(g *globals) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the version, commit and Go version of this binary",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			if err := checkFormat(format, "table", "json"); err != nil {
				return err
			}
			b := tandem.BuildInfo()
			if format == "json" {
				return json.NewEncoder(g.stdout).Encode(b)
			}
			_, err := fmt.Fprintln(g.stdout, b)
			return err
		},
	}
	cmd.Flags().StringVar(&format, "format", "table", "output: table (one line) or json")
	return cmd
}
