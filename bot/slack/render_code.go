package slack

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/shiftwise/shiftwise-bot/bot"
)

// codePieces renders the code blocks: in full as sections (the first of
// each block in the main message, the rest in the thread), or, when there
// is more than UploadThreshold of it, the head of each block and a note,
// with everything in the returned File.
func (r *blockRenderer) codePieces() ([]bkPiece, *File) {
	total := 0
	for _, cb := range r.m.Code {
		total += bkCostOf(cb.Text, bkCodeCost)
	}
	if total <= UploadThreshold {
		var out []bkPiece
		for _, cb := range r.m.Code {
			out = append(out, bkCodeSections(cb)...)
		}
		return out, nil
	}

	f := r.file()
	var out []bkPiece
	for _, cb := range r.m.Code {
		out = append(out, bkCodeHeadPiece(cb))
	}
	lines := strings.Count(strings.TrimRight(string(f.Content), "\n"), "\n") + 1
	note := fmt.Sprintf("📎 Full output attached as `%s` (%s lines, %s).", bkEscText(f.Name), bkThousands(lines), bkSize(len(f.Content)))
	out = append(out, bkSectionPiece(note, bkEssential))
	return out, f
}

func bkCodeTitle(cb bot.CodeBlock) string {
	return bkBreakFences(bkClipText(strings.TrimSpace(bkOneLine(cb.Title)), bkMaxTitle))
}

func bkFence(label, body string) string {
	s := "```\n" + body + "\n```"
	if label != "" {
		s = label + "\n" + s
	}
	return s
}

// bkCodeSections splits one code block into sections at line ends (inside
// a line only when one line is longer than a section).
func bkCodeSections(cb bot.CodeBlock) []bkPiece {
	title := bkCodeTitle(cb)
	text := strings.TrimRight(cb.Text, "\n")
	if strings.TrimSpace(text) == "" {
		s := "_(no output)_"
		if title != "" {
			s = "*" + title + "*\n" + s
		}
		return []bkPiece{bkSectionPiece(s, bkCodeHead)}
	}
	name := title
	if name == "" {
		name = "Output"
	}
	longest := "*" + name + "* (9999/9999 · continued in the thread)"
	room := bkMaxSection - bkUnits(bkFence(longest, ""))
	var chunks []string
	for _, ch := range bkSplit(text, room, bkCodeCost, false) {
		if ch = strings.TrimSuffix(ch, "\n"); ch != "" {
			chunks = append(chunks, ch)
		}
	}
	var out []bkPiece
	for i, ch := range chunks {
		label := ""
		kind := bkCodeHead
		switch {
		case len(chunks) == 1:
			if title != "" {
				label = "*" + title + "*"
			}
		case i == 0:
			label = fmt.Sprintf("*%s* (1/%d · continued in the thread)", name, len(chunks))
		default:
			label = fmt.Sprintf("*%s* (%d/%d)", name, i+1, len(chunks))
			kind = bkCodeCont
		}
		out = append(out, bkSectionPiece(bkFence(label, bkEscCode(ch)), kind))
	}
	return out
}

// bkCodeHeadPiece is the start of a block whose whole goes up as a file.
func bkCodeHeadPiece(cb bot.CodeBlock) bkPiece {
	title := bkCodeTitle(cb)
	text := strings.TrimRight(cb.Text, "\n")
	if strings.TrimSpace(text) == "" {
		s := "_(no output)_"
		if title != "" {
			s = "*" + title + "*\n" + s
		}
		return bkSectionPiece(s, bkCodeHead)
	}
	total := strings.Count(text, "\n") + 1
	var head strings.Builder
	cost, lines := 0, 0
	for _, l := range strings.SplitAfter(text, "\n") {
		c := bkCostOf(l, bkCodeCost)
		if lines == bkHeadLines || cost+c > bkHeadChars {
			if lines == 0 { // one long first line: its start
				head.WriteString(bkPrefix(l, bkHeadChars, bkCodeCost))
				lines = 1
			}
			break
		}
		head.WriteString(l)
		cost += c
		lines++
	}
	h := strings.TrimSuffix(head.String(), "\n")
	label := ""
	if title != "" {
		label = "*" + title + "*"
	}
	if len(h) < len(text) {
		more := fmt.Sprintf("_first %s of %s lines_", bkThousands(lines), bkThousands(total))
		if label != "" {
			label += " · " + more
		} else {
			label = more
		}
	}
	return bkSectionPiece(bkFence(label, bkEscCode(h)), bkCodeHead)
}

var bkNameUnsafe = regexp.MustCompile(`[^a-z0-9._-]+`)

// file is all of the message's code as one text file.
func (r *blockRenderer) file() *File {
	var name, title string
	var content []byte
	if len(r.m.Code) == 1 {
		cb := r.m.Code[0]
		name, title = cb.Title, cb.Title
		content = []byte(cb.Text)
	} else {
		var b strings.Builder
		for i, cb := range r.m.Code {
			if i > 0 {
				b.WriteString("\n")
			}
			if cb.Title != "" {
				b.WriteString("== " + bkOneLine(cb.Title) + " ==\n")
			}
			b.WriteString(cb.Text)
			if !strings.HasSuffix(cb.Text, "\n") {
				b.WriteString("\n")
			}
		}
		content = []byte(b.String())
	}
	for _, s := range []string{name, r.m.Meta.Command, r.m.Title, "output"} {
		s = strings.Trim(bkNameUnsafe.ReplaceAllString(strings.ToLower(s), "-"), "-.")
		if len(s) > 60 {
			s = strings.TrimRight(s[:60], "-.")
		}
		if s != "" {
			name = s + ".txt"
			break
		}
	}
	for _, s := range []string{title, r.m.Title, name} {
		if s = bkOneLine(strings.TrimSpace(s)); s != "" {
			title = bkClipPlain(s, 250)
			break
		}
	}
	return &File{Name: name, Title: title, Content: content}
}

// buttonBlocks renders the buttons into actions blocks (25 elements at
