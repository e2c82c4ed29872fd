// Package commonpasswords knows the most common passwords of public breach corpora, so Register
// can refuse them: an attacker guessing online tries exactly these first. The list is embedded;
// README.md names its source, licence and size, and how to rebuild it.
package commonpasswords

import (
	_ "embed"
	"slices"
	"strings"
	"sync"
)

//go:generate go run ../../tools/gencommonpasswords -out passwords.txt

// passwords holds one lower-cased password a line, sorted byte-wise (the generator guarantees it).
//
//go:embed passwords.txt
var passwords string

var list = sync.OnceValue(func() []string {
	return strings.Split(strings.TrimSuffix(passwords, "\n"), "\n")
})

// Contains reports whether password, compared without regard to case, is on the list.
func Contains(password string) bool {
	_, found := slices.BinarySearch(list(), strings.ToLower(password))
	return found
}

// Len is the number of passwords on the list.
func Len() int { return len(list()) }
