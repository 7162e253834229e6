package resttest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"tandem/internal/loopback"
)

// The real servers the rest connector is tested against, started by the
// test on 127.0.0.1 at a free port and stopped by its cleanup. .ci/run
// installs them: json-server with npm ci in testdata/jsonserver,
// PocketBase with go install (the binary "base"). Without one, a test
// fails when CI is set (CI=true) and skips, saying why, elsewhere.

// missing fails or skips the test for a server that is not installed.
func missing(t testing.TB, what, install string) {
	t.Helper()
	msg := fmt.Sprintf("%s is not installed (%s; .ci/run installs it)", what, install)
	if os.Getenv("CI") != "" { // as conflict/report's browser test reads it
		t.Fatal(msg)
	}
	t.Skip("skipped: " + msg)
}

// testdata is connectors/rest/testdata, wherever the test runs from.
func testdata() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "testdata")
}

// serve runs a server process on a free port until the test ends, waits
// until ready answers true, and returns the port. launch makes the command
// and its readiness check for a port. A free port can be taken by another
// process before the server binds it (go test runs packages side by side),
// so a server that exits saying its address is in use is started again on
// another port; any other early exit fails the test with its output.
func serve(t testing.TB, name string, launch func(port int) (*exec.Cmd, func() bool)) int {
	t.Helper()
	for try := 1; ; try++ {
		port := loopback.Port(t)
		cmd, ready := launch(port)
		out, err := start(t, cmd, ready)
		switch {
		case err == nil:
			return port
		case errors.Is(err, errExited) && strings.Contains(out, "address already in use") && try < 5:
			t.Logf("%s: port %d was taken before it bound it; trying another", name, port)
		default:
			t.Fatalf("%s %v:\n%s", name, err, out)
		}
	}
}

var errExited = errors.New("exited before it was ready")

// start runs cmd, killed when the test ends, and waits until ready answers
// true. It returns what the process printed and why it is not ready.
func start(t testing.TB, cmd *exec.Cmd, ready func() bool) (string, error) {
	t.Helper()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return "", err
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})
	for deadline := time.Now().Add(60 * time.Second); ; {
		if ready() {
			return "", nil
		}
		select {
		case <-exited:
			return out.String(), errExited
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			<-exited
			return out.String(), errors.New("not ready within 60s")
		}
	}
}

// JSONServer is json-server 0.17.4 with the middleware of
// testdata/jsonserver/server.js: a bearer token, updatedAt stamped on
// every write, emails checked. It holds one collection, contacts.
type JSONServer struct {
	URL   string
	Token string
}

// StartJSONServer starts json-server for the test.
func StartJSONServer(t testing.TB) *JSONServer {
	t.Helper()
	dir := filepath.Join(testdata(), "jsonserver")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "json-server", "package.json")); err != nil {
		missing(t, "json-server", "npm ci --prefix "+dir)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		missing(t, "node", "apt-get install nodejs")
	}
	db := filepath.Join(t.TempDir(), "db.json")
	if err := os.WriteFile(db, []byte(`{"contacts": [], "companies": []}`), 0o600); err != nil {
		t.Fatal(err)
	}
	s := &JSONServer{Token: "json-server-test-token"}
	serve(t, "json-server", func(port int) (*exec.Cmd, func() bool) {
		s.URL = fmt.Sprintf("http://127.0.0.1:%d", port)
		cmd := exec.Command(node, filepath.Join(dir, "server.js"), fmt.Sprint(port), db)
		cmd.Env = append(os.Environ(), "JSON_SERVER_TOKEN="+s.Token)
		return cmd, func() bool {
			st, _, _ := s.Do("GET", "/contacts", nil, nil)
			return st == http.StatusOK
		}
	})
	return s
}

// Do sends a request with the token: what a person's edit is in tests.
func (s *JSONServer) Do(method, path string, body any, header http.Header) (int, []byte, error) {
	h := header.Clone()
	if h == nil {
		h = http.Header{}
	}
	h.Set("Authorization", "Bearer "+s.Token)
	return do(method, s.URL+path, body, h)
}

func do(method, url string, body any, h http.Header) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		rd = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return 0, nil, err
	}
	req.Header = h
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// PocketBase is PocketBase v0.36.8 (its examples/base) with a superuser
// and a collection "contacts": email, first_name, last_name, phone,
// lifecycle, tandem_id (a unique index), and the autodate fields created
// and updated. Only a superuser may read or write it.
type PocketBase struct {
	URL, Email, Password string
	Dir                  string // its data directory (data.db)
	superuser            string // the superuser's record id
}

// PocketBaseBinary is the PocketBase binary: "base" on the PATH, or in
// $GOPATH/bin.
func PocketBaseBinary() string {
	if p, err := exec.LookPath("base"); err == nil {
		return p
	}
	gopath := os.Getenv("GOPATH")
	if gopath == "" {
		home, _ := os.UserHomeDir()
		gopath = filepath.Join(home, "go")
	}
	p := filepath.Join(strings.Split(gopath, string(os.PathListSeparator))[0], "bin", "base")
	if _, err := os.Stat(p); err == nil {
		return p
	}
	return ""
}

// StartPocketBase starts PocketBase for the test.
func StartPocketBase(t testing.TB) *PocketBase {
	t.Helper()
	bin := PocketBaseBinary()
	if bin == "" {
		missing(t, "PocketBase", "go install github.com/pocketbase/pocketbase/examples/base@v0.36.8")
	}
	dir := filepath.Join(t.TempDir(), "pb_data")
	s := &PocketBase{Email: "tandem@example.com", Password: "tandem-test-pass-1", Dir: dir}
	if out, err := exec.Command(bin, "superuser", "upsert", s.Email, s.Password, "--dir", dir).CombinedOutput(); err != nil {
		t.Fatalf("pocketbase superuser upsert: %v\n%s", err, out)
	}
	serve(t, "pocketbase", func(port int) (*exec.Cmd, func() bool) {
		s.URL = fmt.Sprintf("http://127.0.0.1:%d", port)
		cmd := exec.Command(bin, "serve", "--http", fmt.Sprintf("127.0.0.1:%d", port), "--dir", dir)
		return cmd, func() bool {
			st, _, _ := do("GET", s.URL+"/api/health", nil, http.Header{})
			return st == http.StatusOK
		}
	})
	st, b, err := s.Do("POST", "/api/collections", json.RawMessage(contactsCollection))
	if err != nil || st != http.StatusOK {
		t.Fatalf("pocketbase: create the contacts collection: %d %s %v", st, b, err)
	}
	st, b, err = s.Do("GET", "/api/collections/_superusers/records", nil)
	var list struct {
		Items []struct {
			ID string `json:"id"`
		} `json:"items"`
	}
	if err != nil || st != http.StatusOK || json.Unmarshal(b, &list) != nil || len(list.Items) == 0 {
		t.Fatalf("pocketbase: find the superuser: %d %s %v", st, b, err)
	}
	s.superuser = list.Items[0].ID
	return s
}

const contactsCollection = `{"name": "contacts", "type": "base",
 "fields": [
  {"name": "email", "type": "email"},
  {"name": "first_name", "type": "text"},
  {"name": "last_name", "type": "text"},
  {"name": "phone", "type": "text"},
  {"name": "lifecycle", "type": "text"},
  {"name": "tandem_id", "type": "text"},
  {"name": "created", "type": "autodate", "onCreate": true},
  {"name": "updated", "type": "autodate", "onCreate": true, "onUpdate": true}],
 "indexes": ["CREATE UNIQUE INDEX idx_contacts_tandem_id ON contacts (tandem_id) WHERE tandem_id != ''"]}`

// Token signs in as the superuser and returns a fresh token.
func (s *PocketBase) Token() (string, error) {
	st, b, err := do("POST", s.URL+"/api/collections/_superusers/auth-with-password",
		map[string]string{"identity": s.Email, "password": s.Password}, http.Header{})
	if err != nil || st != http.StatusOK {
		return "", fmt.Errorf("pocketbase sign-in: %d %s %v", st, b, err)
	}
	var r struct {
		Token string `json:"token"`
	}
	return r.Token, json.Unmarshal(b, &r)
}

// Do sends a request as the superuser.
func (s *PocketBase) Do(method, path string, body any) (int, []byte, error) {
	tok, err := s.Token()
	if err != nil {
		return 0, nil, err
	}
	return do(method, s.URL+path, body, http.Header{"Authorization": {"Bearer " + tok}})
}

// ExpireTokens sets the superuser's password again, to the same value:
// PocketBase then refuses every token issued before.
func (s *PocketBase) ExpireTokens() error {
	st, b, err := s.Do("PATCH", "/api/collections/_superusers/records/"+s.superuser,
		map[string]string{"password": s.Password, "passwordConfirm": s.Password})
	if err != nil || st != http.StatusOK {
		return fmt.Errorf("pocketbase: reset the password: %d %s %v", st, b, err)
	}
	return nil
}
