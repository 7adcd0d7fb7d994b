package commands

import (
	"strings"
	"testing"
)

// TestCopyCounter counts the rows of a plain dump's COPY blocks however
// the stream is cut, including quoted names and rows that look like SQL.
func TestCopyCounter(t *testing.T) {
	dump := strings.Join([]string{
		"-- PostgreSQL database dump",
		`\restrict abc`,
		"COPY public.stations (id, name, location) FROM stdin;",
		"1\tFront Desk\tBuilding A",
		"2\tCOPY public.fake (x) FROM stdin;\tB", // data, not a block
		`\.`,
		"",
		`COPY public."Odd Name" (x) FROM stdin;`,
		`\.`,
		`COPY "my.schema"."a""b" FROM stdin;`,
		"1",
		`\.`,
		"COPY public.assignments (id) FROM stdin;",
		"1", "2", strings.Repeat("x", 5000), "4",
		`\.`,
		`\unrestrict abc`,
		"-- PostgreSQL database dump complete",
		"",
	}, "\n")
	for _, chunk := range []int{1, 3, 7, 64, 4096, len(dump)} {
		c := &copyCounter{rows: map[string]int64{}}
		for i := 0; i < len(dump); i += chunk {
			c.Write([]byte(dump[i:min(i+chunk, len(dump))]))
		}
		c.flush()
		want := map[string]int64{"public.stations": 2, "public.Odd Name": 0, `my.schema.a"b`: 1, "public.assignments": 4}
		if len(c.rows) != len(want) {
			t.Fatalf("chunk %d: %v", chunk, c.rows)
		}
		for k, v := range want {
			if c.rows[k] != v {
				t.Errorf("chunk %d: %s = %d, want %d (%v)", chunk, k, c.rows[k], v, c.rows)
			}
		}
	}
	got := compareCounts([]TableCount{{"public.stations", 2}, {"public.assignments", 3}}, map[string]int64{"public.stations": 2, "public.assignments": 4, "public.gone": 1})
	if len(got) != 2 || !strings.Contains(got[0], "public.assignments: 3 rows restored, 4 in the dump") || !strings.Contains(got[1], "public.gone: in the dump (1 rows), not restored") {
		t.Errorf("compareCounts = %q", got)
	}
}
