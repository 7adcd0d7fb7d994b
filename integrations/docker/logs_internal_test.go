package docker

import (
	"bytes"
	"strings"
	"testing"
)

func count(t *testing.T, chunks []string, match func([]byte) bool) (total, matched int) {
	t.Helper()
	lc := &lineCounter{match: match}
	for _, c := range chunks {
		if n, err := lc.Write([]byte(c)); n != len(c) || err != nil {
			t.Fatalf("Write(%q) = %d, %v", c, n, err)
		}
	}
	lc.flush()
	return lc.total, lc.matched
}

func hasError(line []byte) bool { return bytes.Contains(bytes.ToLower(line), []byte("error")) }

func TestLineCounter(t *testing.T) {
	for _, tc := range []struct {
		name           string
		chunks         []string
		total, matched int
	}{
		{"empty", nil, 0, 0},
		{"lines", []string{"a\nERROR b\nc error\n"}, 3, 2},
		{"last line without newline", []string{"a\nerror"}, 2, 1},
		{"empty lines count", []string{"\n\nerror\n"}, 3, 1},
		{"split across writes", []string{"er", "ror one\nt", "wo\n", "Err", "or"}, 3, 2},
		{"crlf", []string{"error\r\nok\r\n"}, 2, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			total, matched := count(t, tc.chunks, hasError)
			if total != tc.total || matched != tc.matched {
				t.Errorf("got %d lines %d matching, want %d and %d", total, matched, tc.total, tc.matched)
			}
			// Byte by byte gives the same answer.
			var bytewise []string
			for _, c := range tc.chunks {
				for i := range len(c) {
					bytewise = append(bytewise, c[i:i+1])
				}
			}
			if total, matched := count(t, bytewise, hasError); total != tc.total || matched != tc.matched {
				t.Errorf("byte by byte: got %d lines %d matching, want %d and %d", total, matched, tc.total, tc.matched)
			}
		})
	}
}

func TestLineCounterSeesLinesWithoutEndings(t *testing.T) {
	var seen []string
	count(t, []string{"one\r\ntwo\nthree"}, func(line []byte) bool {
		seen = append(seen, string(line))
		return false
	})
	if strings.Join(seen, "|") != "one|two|three" {
		t.Fatalf("match saw %q", seen)
	}
}

func TestLineCounterLongLineIsOneLineAndBounded(t *testing.T) {
	long := strings.Repeat("x", 3*maxMatchLine) + "error at the end\nerror " + strings.Repeat("y", 2*maxMatchLine) + "\n"
	var lens []int
	total, matched := count(t, []string{long[:1000], long[1000:]}, func(line []byte) bool {
		lens = append(lens, len(line))
		return hasError(line)
	})
	// The first line's "error" lies beyond what is kept for matching; the
	// second's is at its start.
	if total != 2 || matched != 1 {
		t.Fatalf("got %d lines %d matching, want 2 and 1", total, matched)
	}
	for _, n := range lens {
		if n != maxMatchLine {
			t.Errorf("match saw %d bytes, want the first %d", n, maxMatchLine)
		}
	}
}
