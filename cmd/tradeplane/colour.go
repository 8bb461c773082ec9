package main

import (
	"io"
	"os"

	"github.com/mattn/go-isatty"
)

// colourOn reports whether PnL in a table written to w is coloured: only on
// a terminal, and never when NO_COLOR is set (https://no-color.org) or
// TERM is "dumb". Pipes, files and --json get plain text.
func colourOn(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok || os.Getenv("NO_COLOR") != "" || os.Getenv("TERM") == "dumb" {
		return false
	}
	return isatty.IsTerminal(f.Fd())
}
