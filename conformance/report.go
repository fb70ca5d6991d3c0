package conformance

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// row is one case across the servers it ran against.
type row struct {
	first    Result
	byServer map[string]Result
}

// grouped returns, per category in report order, the cases in catalogue
// order, and the servers in run order.
func (r *Report) grouped() (map[string][]*row, []string) {
	var servers []string
	rows := map[string]*row{}
	var order []string
	for _, res := range r.Results {
		if !slices.Contains(servers, res.Server) {
			servers = append(servers, res.Server)
		}
		rw, ok := rows[res.ID]
		if !ok {
			rw = &row{first: res, byServer: map[string]Result{}}
			rows[res.ID] = rw
			order = append(order, res.ID)
		}
		rw.byServer[res.Server] = res
	}
	byCategory := map[string][]*row{}
	for _, id := range order {
		rw := rows[id]
		byCategory[rw.first.Category] = append(byCategory[rw.first.Category], rw)
	}
	return byCategory, servers
}

// Summary is the one-line verdict.
func (r *Report) Summary() string {
	return fmt.Sprintf("%d checks: %d passed, %d failed, %d skipped, %d not applicable, %d expected failures, %d unexpected passes (%s)",
		len(r.Results), r.Counts[Pass], r.Counts[Fail], r.Counts[Skip], r.Counts[NotApplicable], r.Counts[XFail], r.Counts[XPass], r.Duration.Round(time.Millisecond))
}

// WriteText writes the report for a person at a terminal: a table per
// category, then every failure with what was expected and why it matters.
func (r *Report) WriteText(w io.Writer) error {
	fmt.Fprintf(w, "JWT conformance report — %s\n", r.Mode)
	if lines := r.algorithmLines(); len(lines) > 0 {
		fmt.Fprintf(w, "\nALGORITHMS (information: a valid token of each, before any attack)\n")
		for _, l := range lines {
			fmt.Fprintf(w, "  %s\n", l)
		}
	}
	if err := r.writeTable(w); err != nil {
		return err
	}
	r.writeFailures(w)
	r.writeNotes(w)
	_, err := fmt.Fprintf(w, "\n%s\n", r.Summary())
	return err
}

// writeTable writes a table per category: a row per case, a column per server.
func (r *Report) writeTable(w io.Writer) error {
	byCategory, servers := r.grouped()
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, cat := range Categories {
		rows := byCategory[cat]
		if len(rows) == 0 {
			continue
		}
		shown := columns(rows, servers)
		fmt.Fprintf(tw, "\n%s\t\t%s\n", strings.ToUpper(cat), tabbed(shown))
		for _, rw := range rows {
			fmt.Fprintf(tw, "  %s\t%s\t%s\n", rw.first.ID, rw.first.Title, tabbed(rw.cells(shown)))
		}
	}
	return tw.Flush()
}

// columns are the servers that have a result in rows.
func columns(rows []*row, servers []string) []string {
	var shown []string
	for _, s := range servers {
		if hasServer(rows, s) {
			shown = append(shown, s)
		}
	}
	return shown
}

// cells are rw's statuses at each of servers, "-" where it has none.
func (rw *row) cells(servers []string) []string {
	cells := make([]string, len(servers))
	for i, s := range servers {
		cells[i] = "-"
		if res, ok := rw.byServer[s]; ok {
			cells[i] = string(res.Status)
		}
	}
	return cells
}

// tabbed is cells, each ended by a tab, as the table's columns.
func tabbed(cells []string) string {
	var b strings.Builder
	for _, c := range cells {
		b.WriteString(c + "\t")
	}
	return b.String()
}

// writeFailures explains each failure, expected failure and unexpected
// pass. Failures of one cause (the same 5xx or silence from one server
// across cases) are told once, with the cases listed.
func (r *Report) writeFailures(w io.Writer) {
	for _, section := range []struct {
		status Status
		title  string
	}{{Fail, "FAILED — accepted what it should have refused, or broke"}, {XFail, "EXPECTED FAILURES (not counted)"}, {XPass, "UNEXPECTED PASSES"}} {
		var results []Result
		for _, res := range r.Results {
			if res.Status == section.status {
				results = append(results, res)
			}
		}
		if len(results) == 0 {
			continue
		}
		fmt.Fprintf(w, "\n%s\n", section.title)
		groups := byCause(results)
		told := map[string]bool{}
		for _, res := range results {
			key := causeKey(res)
			if ids := groups[key]; len(ids) > 1 {
				if !told[key] {
					told[key] = true
					fmt.Fprintf(w, "\n  ✗ %d cases at %s %s the same way [%s]: %s\n", len(ids), res.Server, res.Outcome, res.Severity, res.Cause)
					fmt.Fprintf(w, "    cases:    %s\n", strings.Join(ids, ", "))
					fmt.Fprintf(w, "    why:      a bad token must get a 4xx; one cause behind many cases is one bug to fix, found by each\n")
				}
				continue
			}
			fmt.Fprintf(w, "\n  ✗ %s at %s [%s] %s\n", res.ID, res.Server, res.Severity, res.Title)
			fmt.Fprintf(w, "    expected: %s\n    got:      %s\n", res.Expected, res.Reason)
			fmt.Fprintf(w, "    why:      %s\n    source:   %s\n", res.Explain, res.Source)
		}
	}
}

// causeKey groups failures that broke or went silent the same way at one
// server; other failures are their own ("" never groups).
func causeKey(res Result) string {
	if res.Outcome != Broke && res.Outcome != NoAnswer {
		return ""
	}
	return res.Server + "\x00" + string(res.Outcome) + "\x00" + res.Cause
}

// byCause lists the case ids of each cause.
func byCause(results []Result) map[string][]string {
	groups := map[string][]string{}
	for _, res := range results {
		if key := causeKey(res); key != "" {
			groups[key] = append(groups[key], res.ID)
		}
	}
	return groups
}

// writeNotes lists the skipped and inapplicable cases, and what passing
// cases had to say (a measured leeway, a key's delay).
func (r *Report) writeNotes(w io.Writer) {
	for _, section := range []struct {
		title string
		keep  func(Result) bool
	}{
		{"SKIPPED (could not run)", func(res Result) bool { return res.Status == Skip }},
		{"NOT APPLICABLE", func(res Result) bool { return res.Status == NotApplicable }},
		{"NOTES", func(res Result) bool { return res.Status == Pass && res.Reason != "" }},
	} {
		var lines []string
		for _, res := range r.Results {
			if section.keep(res) {
				lines = append(lines, fmt.Sprintf("  %s at %s: %s", res.ID, res.Server, res.Reason))
			}
		}
		if len(lines) > 0 {
			fmt.Fprintf(w, "\n%s\n%s\n", section.title, strings.Join(lines, "\n"))
		}
	}
}

// algorithmLines says, per server, which algorithms it accepted.
func (r *Report) algorithmLines() []string {
	var lines []string
	for _, a := range r.Algorithms {
		line := fmt.Sprintf("%s: accepts %s (the catalogue ran under %s)", a.Server, strings.Join(a.Accepted, ", "), strings.Join(a.Ran, ", "))
		if len(a.Accepted) == 0 {
			line = a.Server + ": accepts none"
		}
		if refused := a.refusals(); refused != "" {
			line += "; refused " + refused
		}
		lines = append(lines, line)
	}
	return lines
}

func hasServer(rows []*row, server string) bool {
	for _, rw := range rows {
		if _, ok := rw.byServer[server]; ok {
			return true
		}
	}
	return false
}

// WriteJSON writes the whole report as JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Skipped  int          `xml:"skipped,attr"`
	Time     float64      `xml:"time,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Skipped  int         `xml:"skipped,attr"`
	Cases    []junitCase `xml:"testcase"`
}

type junitCase struct {
	Class   string        `xml:"classname,attr"`
	Name    string        `xml:"name,attr"`
	Failure *junitMessage `xml:"failure,omitempty"`
	Skipped *junitMessage `xml:"skipped,omitempty"`
}

type junitMessage struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr,omitempty"`
	Body    string `xml:",chardata"`
}

// WriteJUnit writes JUnit XML, one test suite per category.
func (r *Report) WriteJUnit(w io.Writer) error {
	out := junitSuites{Name: "jwt-conformance", Time: r.Duration.Seconds()}
	for _, cat := range Categories {
		suite := junitSuite{Name: cat}
		for _, res := range r.Results {
			if res.Category != cat {
				continue
			}
			jc := junitCase{Class: "conformance." + strings.ReplaceAll(cat, " ", "_"), Name: fmt.Sprintf("%s %s: %s", res.ID, res.Server, res.Title)}
			switch res.Status {
			case Fail:
				jc.Failure = &junitMessage{Message: res.Reason, Type: string(res.Severity),
					Body: fmt.Sprintf("expected: %s\n%s\nsource: %s", res.Expected, res.Explain, res.Source)}
				suite.Failures++
			case Skip, XFail, NotApplicable:
				jc.Skipped = &junitMessage{Message: string(res.Status) + ": " + res.Reason}
				suite.Skipped++
			}
			suite.Tests++
			suite.Cases = append(suite.Cases, jc)
		}
		if suite.Tests > 0 {
			out.Suites = append(out.Suites, suite)
			out.Tests += suite.Tests
			out.Failures += suite.Failures
			out.Skipped += suite.Skipped
		}
	}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(out); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}

// WriteMarkdown writes the report as Markdown: a table per category and the
// failures with their explanations.
func (r *Report) WriteMarkdown(w io.Writer) error {
	byCategory, servers := r.grouped()
	fmt.Fprintf(w, "# JWT conformance report\n\n%s\n\n**%s**\n", r.Mode, r.Summary())
	if lines := r.algorithmLines(); len(lines) > 0 {
		fmt.Fprintf(w, "\n## Algorithms\n\n- %s\n", strings.Join(lines, "\n- "))
	}
	for _, cat := range Categories {
		rows := byCategory[cat]
		if len(rows) == 0 {
			continue
		}
		cols := columns(rows, servers)
		fmt.Fprintf(w, "\n## %s\n\n| case | what | severity | %s |\n|---|---|---|%s\n", cat, strings.Join(cols, " | "), strings.Repeat("---|", len(cols)))
		for _, rw := range rows {
			fmt.Fprintf(w, "| %s | %s | %s | %s |\n", rw.first.ID, mdEscape(rw.first.Title), rw.first.Severity, strings.Join(rw.cells(cols), " | "))
		}
	}
	r.writeMarkdownFailures(w)
	return nil
}

func (r *Report) writeMarkdownFailures(w io.Writer) {
	var failures []Result
	for _, res := range r.Results {
		if res.Status == Fail {
			failures = append(failures, res)
		}
	}
	if len(failures) > 0 {
		fmt.Fprint(w, "\n## Failures\n")
	}
	groups, told := byCause(failures), map[string]bool{}
	for _, res := range failures {
		if key := causeKey(res); len(groups[key]) > 1 {
			if !told[key] {
				told[key] = true
				fmt.Fprintf(w, "\n### %d cases at %s %s the same way (%s)\n\n- answer: %s\n- cases: %s\n",
					len(groups[key]), res.Server, res.Outcome, res.Severity, mdEscape(res.Cause), strings.Join(groups[key], ", "))
			}
			continue
		}
		fmt.Fprintf(w, "\n### %s at %s — %s (%s)\n\n- expected: %s\n- got: %s\n- why it matters: %s\n- source: %s\n",
			res.ID, res.Server, mdEscape(res.Title), res.Severity, res.Expected, mdEscape(res.Reason), mdEscape(res.Explain), res.Source)
	}
	first := true
	for _, res := range r.Results {
		if res.Status != Skip && res.Status != NotApplicable {
			continue
		}
		if first {
			fmt.Fprint(w, "\n## Skipped or not applicable\n\n")
			first = false
		}
		fmt.Fprintf(w, "- %s at %s (%s): %s\n", res.ID, res.Server, res.Status, mdEscape(res.Reason))
	}
}

func mdEscape(s string) string { return strings.ReplaceAll(s, "|", `\|`) }

// WriteCatalogue writes every case as a Markdown table, for the docs.
func WriteCatalogue(w io.Writer) error {
	var b strings.Builder
	for _, cat := range Categories {
		fmt.Fprintf(&b, "\n### %s\n\n| id | case | expected | severity | profiles | source |\n|---|---|---|---|---|---|\n", cat)
		for _, c := range Catalogue() {
			if c.Category == cat {
				profiles := "all"
				if len(c.Profiles) > 0 {
					profiles = strings.Join(c.Profiles, ", ")
				}
				fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", c.ID, mdEscape(c.Title), c.Expect, c.Severity, profiles, mdEscape(c.Source))
			}
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}
