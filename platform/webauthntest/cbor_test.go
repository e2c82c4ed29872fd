package webauthntest

import (
	"encoding/hex"
	"testing"
)

// The encoder's output against RFC 8949 Appendix A's examples.
func TestCBORVectors(t *testing.T) {
	cases := []struct {
		got  []byte
		want string
	}{
		{cborInt(nil, 0), "00"},
		{cborInt(nil, 23), "17"},
		{cborInt(nil, 24), "1818"},
		{cborInt(nil, 1000), "1903e8"},
		{cborInt(nil, 1000000), "1a000f4240"},
		{cborInt(nil, -1), "20"},
		{cborInt(nil, -7), "26"},
		{cborInt(nil, -1000), "3903e7"},
		{cborBytes(nil, []byte{1, 2, 3, 4}), "4401020304"},
		{cborText(nil, "IETF"), "6449455446"},
		{cborHead(nil, majorMap, 0), "a0"},
	}
	for _, c := range cases {
		if got := hex.EncodeToString(c.got); got != c.want {
			t.Errorf("got %s, want %s", got, c.want)
		}
	}
}
