package pagetoken_test

import (
	"slices"
	"strconv"
	"testing"

	"github.com/parleyhq/parley/platform/pagetoken"
)

func TestCutKeepsAPageAndTokensItsLastRow(t *testing.T) {
	token := func(last int) string { return "after " + strconv.Itoa(last) }
	rows, next := pagetoken.Cut([]int{1, 2, 3}, 2, token)
	if !slices.Equal(rows, []int{1, 2}) || next != "after 2" {
		t.Fatalf("Cut(3 rows, 2) = %v, %q; want [1 2], \"after 2\"", rows, next)
	}
	rows, next = pagetoken.Cut([]int{1, 2}, 2, token)
	if !slices.Equal(rows, []int{1, 2}) || next != "" {
		t.Fatalf("Cut(2 rows, 2) = %v, %q; want both rows and no token (the last page)", rows, next)
	}
}
