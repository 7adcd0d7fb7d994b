package commands

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestClipHelpersKeepWholeRunes(t *testing.T) {
	long := strings.Repeat("é", 70)
	if got := deployClip(long); !utf8.ValidString(got) || utf8.RuneCountInString(got) != 61 {
		t.Errorf("deployClip: %q (valid %v, %d runes)", got, utf8.ValidString(got), utf8.RuneCountInString(got))
	}
	if got := deployClip("short"); got != "short" {
		t.Errorf("deployClip(short) = %q", got)
	}
	if got := oneLineClip("SELECT  1\n\tFROM t", 100); got != "SELECT 1 FROM t" {
		t.Errorf("oneLineClip = %q", got)
	}
	if got := oneLineClip(long, 10); utf8.RuneCountInString(got) != 10 || !strings.HasSuffix(got, "…") {
		t.Errorf("oneLineClip clipped = %q", got)
	}
}
