package stack

import (
	"bytes"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"strings"
	"sync"
)

// Console interleaves the output of many processes on one writer, a whole line at a time, each line
// prefixed with the name of the process that wrote it ("auth     | listening on ...").
type Console struct {
	mu    sync.Mutex
	w     io.Writer
	color bool
	width int
}

// NewConsole writes to w. width is the column the names are padded to; color adds ANSI colours to
// the names (use IsTerminal to decide).
func NewConsole(w io.Writer, color bool, width int) *Console {
	if w == nil {
		w = io.Discard
	}
	return &Console{w: w, color: color, width: width}
}

// IsTerminal reports whether f is a character device (a terminal) and colour is not switched off
// with NO_COLOR or TERM=dumb.
func IsTerminal(f *os.File, getenv func(string) string) bool {
	if getenv("NO_COLOR") != "" || getenv("TERM") == "dumb" {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// ANSI colours for names, chosen by a hash of the name so a process keeps its colour across runs.
var palette = []string{"\x1b[36m", "\x1b[32m", "\x1b[33m", "\x1b[35m", "\x1b[34m", "\x1b[96m", "\x1b[92m", "\x1b[93m", "\x1b[95m", "\x1b[94m"}

const resetColor = "\x1b[0m"

// tailLines is how many of a process's last lines a LineWriter keeps for error reports.
const tailLines = 25

// maxLine caps a line without a newline; a longer one is written out in pieces.
const maxLine = 64 << 10

// Writer returns a writer whose complete lines appear on the console prefixed with name.
func (c *Console) Writer(name string) *LineWriter {
	pad := name
	if n := c.width - len(name); n > 0 {
		pad += strings.Repeat(" ", n)
	}
	prefix := pad + " | "
	if c.color {
		h := fnv.New32a()
		_, _ = h.Write([]byte(name))
		prefix = palette[h.Sum32()%uint32(len(palette))] + pad + " |" + resetColor + " "
	}
	return &LineWriter{c: c, prefix: prefix}
}

// Printf writes a line of the console's own, without a prefix.
func (c *Console) Printf(format string, args ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	fmt.Fprintf(c.w, format, args...)
}

func (c *Console) writeLine(prefix string, line []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	buf := make([]byte, 0, len(prefix)+len(line)+1)
	buf = append(buf, prefix...)
	buf = append(buf, line...)
	buf = append(buf, '\n')
	_, _ = c.w.Write(buf)
}

// LineWriter is one process's view of a Console. It is safe for concurrent use and remembers the
// last lines written, for error messages.
type LineWriter struct {
	c      *Console
	prefix string

	mu      sync.Mutex
	partial []byte
	tail    []string // ring of the last tailLines lines
	next    int
}

// Write splits p into lines; an unfinished line waits for the rest (or Flush).
func (w *LineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			w.partial = append(w.partial, p...)
			if len(w.partial) >= maxLine {
				w.emit(w.partial)
				w.partial = w.partial[:0]
			}
			break
		}
		if len(w.partial) > 0 {
			w.partial = append(w.partial, p[:i]...)
			w.emit(w.partial)
			w.partial = w.partial[:0]
		} else {
			w.emit(p[:i])
		}
		p = p[i+1:]
	}
	return n, nil
}

// Flush writes out an unfinished last line.
func (w *LineWriter) Flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.partial) > 0 {
		w.emit(w.partial)
		w.partial = w.partial[:0]
	}
}

func (w *LineWriter) emit(line []byte) {
	line = bytes.TrimSuffix(line, []byte{'\r'})
	w.c.writeLine(w.prefix, line)
	s := string(line)
	if len(w.tail) < tailLines {
		w.tail = append(w.tail, s)
		return
	}
	w.tail[w.next] = s
	w.next = (w.next + 1) % tailLines
}

// Tail returns the last lines written (at most 25), oldest first.
func (w *LineWriter) Tail() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]string, 0, len(w.tail)+1)
	out = append(out, w.tail[w.next:]...)
	out = append(out, w.tail[:w.next]...)
	if len(w.partial) > 0 {
		out = append(out, string(w.partial))
	}
	return out
}

// tailText formats the last lines for an error message.
func tailText(w *LineWriter) string {
	lines := w.Tail()
	if len(lines) == 0 {
		return "  (no output)"
	}
	return "  " + strings.Join(lines, "\n  ")
}
