package report

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"html"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"tandem"
)

// TestBrowser opens the page with hostile values in headless Chromium and
// checks, in the DOM the browser built, that the values are text, that no
// element or script of theirs exists or ran, and that the filter script
// works; then saves a screenshot as a test artifact. Without Chromium it
// skips, except in CI (CI set), which installs it (.ci/run).
func TestBrowser(t *testing.T) {
	chromium := findChromium(t)
	dir := t.TempDir()
	page := filepath.Join(dir, "conflicts.html")
	var b bytes.Buffer
	cs := append(sample(), hostile()...)
	for i := range cs {
		cs[i].ID = int64(i + 1)
	}
	if err := WriteHTML(&b, cs, Options{Generated: t0, Source: "tandem.db"}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(page, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	u := url.URL{Scheme: "file", Path: page}

	dom := dumpDOM(t, chromium, dir, u.String())
	tags := startTags(dom)
	byName := map[string]int{}
	for _, tag := range tags {
		byName[tag.name]++
		for name := range tag.attrs {
			if strings.HasPrefix(name, "on") || name == "data-pwned" || name == "x" {
				t.Errorf("<%s> has an attribute %s: injected markup became an element", tag.name, name)
			}
		}
	}
	if byName["img"] != 0 || byName["script"] != 1 {
		t.Errorf("%d <img> and %d <script> elements, want none and the page's own", byName["img"], byName["script"])
	}
	if title := textOf(dom, "title"); title != "Tandem conflicts" {
		t.Errorf("title %q: an injected script ran", title)
	}
	for _, want := range []string{
		`&lt;script&gt;document.title='pwned'&lt;/script&gt;`,
		`&lt;img src=x onerror=\"document.body.dataset.pwned=1\"&gt;`, // as JSON, in a value cell
	} {
		if !strings.Contains(dom, want) {
			t.Errorf("the DOM lacks the hostile value as text: %s", want)
		}
	}
	// The filter controls offer every entity, kind and status there is,
	// hostile ones included, as plain option values.
	options := map[string]bool{}
	for _, tag := range tags {
		if tag.name == "option" {
			options[tag.attrs["value"]] = true
		}
	}
	for _, c := range cs {
		for _, v := range []string{c.Entity, c.Kind, c.Status} {
			if !options[v] {
				t.Errorf("no filter option %q", v)
			}
		}
	}
	if got, want := textOf(dom, "output"), fmt.Sprintf("%d of %d shown", len(cs), len(cs)); got != want {
		t.Errorf("unfiltered: %q, want %q", got, want)
	}

	// Filters in the fragment apply on load, alone or together; the
	// search is case-blind over a card's text; a value that is not one of
	// the choices filters nothing.
	for _, tc := range []struct {
		fragment string
		want     func(tandem.Conflict) bool
	}{
		{"status=open", func(c tandem.Conflict) bool { return c.Status == tandem.ConflictOpen }},
		{"entity=contact&kind=field&status=auto", func(c tandem.Conflict) bool {
			return c.Entity == "contact" && c.Kind == tandem.ConflictField && c.Status == tandem.ConflictAuto
		}},
		{"q=LOVELACE-king", func(c tandem.Conflict) bool { return c.Field == "last_name" }},
		{"status=nonesuch", func(tandem.Conflict) bool { return true }},
	} {
		u.Fragment = tc.fragment
		dom := dumpDOM(t, chromium, dir, u.String())
		var want, got []string
		for _, c := range openFirst(cs) { // the page lists open conflicts first
			if tc.want(c) {
				want = append(want, fmt.Sprintf("c%d", c.ID))
			}
		}
		for _, tag := range startTags(dom) {
			if _, hidden := tag.attrs["hidden"]; tag.name == "article" && !hidden {
				got = append(got, tag.attrs["id"])
			}
		}
		if !slices.Equal(got, want) || len(want) == 0 {
			t.Errorf("#%s shows %v, want %v", tc.fragment, got, want)
		}
		if shown, want := textOf(dom, "output"), fmt.Sprintf("%d of %d shown", len(want), len(cs)); shown != want {
			t.Errorf("#%s: %q, want %q", tc.fragment, shown, want)
		}
	}

	// A screenshot, for a person to look at.
	shot := filepath.Join(artifacts(t), "conflicts-report.png")
	browse(t, chromium, dir, "--screenshot="+shot, "--window-size=1280,900", "--hide-scrollbars", "file://"+page)
	if st, err := os.Stat(shot); err != nil || st.Size() == 0 {
		t.Fatalf("no screenshot: %v", err)
	}
	t.Log("screenshot:", shot)
}

func findChromium(t *testing.T) string {
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("chromium not found on PATH; CI installs it (.ci/run), so the browser test must run there")
	}
	t.Skip("chromium not found on PATH: the HTML report is not checked in a browser (apt-get install chromium to run it)")
	return ""
}

// browse runs headless Chromium once, with a profile of its own under dir
// and nothing fetched in the background, and returns what it printed.
func browse(t *testing.T, chromium, dir string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	profile, err := os.MkdirTemp(dir, "profile")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, chromium, append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
		"--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-dev-shm-usage", "--user-data-dir=" + profile}, args...)...)
	cmd.Env = append(os.Environ(), "HOME="+profile) // keep crash reports and caches out of the real home
	// Chromium's helpers may hold the output open after it is killed.
	cmd.WaitDelay = 5 * time.Second
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s", chromium, strings.Join(args, " "), err, errb.String())
	}
	return out.String()
}

func dumpDOM(t *testing.T, chromium, dir, page string) string {
	t.Helper()
	dom := browse(t, chromium, dir, "--dump-dom", page)
	if !strings.Contains(dom, "</html>") {
		t.Fatalf("--dump-dom printed no page:\n%s", dom)
	}
	return dom
}

// artifacts is where test artifacts go: $TANDEM_ARTIFACTS, or artifacts/;
// a relative path is from the root of the module (where .ci/run lists it),
// not from this package's directory, where go test runs.
func artifacts(t *testing.T) string {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("no module root at %s: %v", root, err)
	}
	dir := cmp.Or(os.Getenv("TANDEM_ARTIFACTS"), "artifacts")
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(root, dir)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// tag is one start tag of a serialized DOM.
type tag struct {
	name  string
	attrs map[string]string
}

var (
	// Raw text elements hold < that is no tag; they are cut out first.
	rawText  = regexp.MustCompile(`(?is)(<(script|style)\b[^>]*>).*?(</(script|style)>)`)
	startTag = regexp.MustCompile(`<([a-zA-Z][a-zA-Z0-9-]*)((?:\s+[^\s"'>/=]+(?:\s*=\s*"[^"]*")?)*)\s*/?>`)
	attr     = regexp.MustCompile(`([^\s"'>/=]+)(?:\s*=\s*"([^"]*)")?`)
)

// startTags lists the start tags of a DOM as Chromium serializes it: every
// attribute value in double quotes, a " inside one written &quot;, and no
// raw < in text. That is all a regexp needs, so the test needs no HTML
// parser (the module has none).
func startTags(dom string) []tag {
	dom = rawText.ReplaceAllString(dom, "$1$3")
	var out []tag
	for _, m := range startTag.FindAllStringSubmatch(dom, -1) {
		tg := tag{name: strings.ToLower(m[1]), attrs: map[string]string{}}
		for _, a := range attr.FindAllStringSubmatch(m[2], -1) {
			tg.attrs[strings.ToLower(a[1])] = html.UnescapeString(a[2])
		}
		out = append(out, tg)
	}
	return out
}

// textOf is the text of the first element of a kind that holds only text.
func textOf(dom, name string) string {
	m := regexp.MustCompile(`<` + name + `\b[^>]*>([^<]*)</` + name + `>`).FindStringSubmatch(dom)
	if m == nil {
		return ""
	}
	return html.UnescapeString(m[1])
}
