package commonpasswords

import (
	"slices"
	"testing"
)

func TestListIsSortedAndLowerCase(t *testing.T) {
	l := list()
	if len(l) != 17950 {
		t.Errorf("%d passwords; README.md and docs/auth.md say 17,950", len(l))
	}
	if !slices.IsSorted(l) {
		t.Fatal("passwords.txt is not sorted; Contains binary-searches it")
	}
}

func TestContains(t *testing.T) {
	for _, p := range []string{"password1", "Password1", "iloveyou", "12345678", "qwertyuiop", "QWERTYUIOP"} {
		if !Contains(p) {
			t.Errorf("Contains(%q) = false; it is one of the most common passwords", p)
		}
	}
	for _, p := range []string{"correct horse battery staple", "", "vX9#kq!2pLm0"} {
		if Contains(p) {
			t.Errorf("Contains(%q) = true", p)
		}
	}
}
