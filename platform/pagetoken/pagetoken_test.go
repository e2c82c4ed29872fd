package pagetoken

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/parleyhq/parley/platform/domainerr"
)

type cursor struct {
	Version
	K string `json:"k"`
	T int64  `json:"t,omitempty"`
}

func TestRoundTripKeepsTheWireFormat(t *testing.T) {
	token := Encode(&cursor{K: "friends", T: 42})
	raw, err := base64.RawURLEncoding.DecodeString(token)
	// The format tokens already handed out use: clients holding one keep paging after a deploy.
	if err != nil || string(raw) != `{"v":1,"k":"friends","t":42}` {
		t.Fatalf("token %q is %q, %v", token, raw, err)
	}
	var c cursor
	found, err := Decode(token, 64, &c)
	if !found || err != nil || c.K != "friends" || c.T != 42 {
		t.Fatalf("decoded %+v, %v, %v", c, found, err)
	}
}

func TestEmptyTokenIsTheFirstPage(t *testing.T) {
	var c cursor
	if found, err := Decode("", 64, &c); found || err != nil {
		t.Fatalf("got %v, %v", found, err)
	}
}

func TestBadTokensAreRefusedWithAMessageNamingTheField(t *testing.T) {
	enc := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	for name, tc := range map[string]struct {
		token string
		want  error
	}{
		"too long":      {strings.Repeat("a", 65), ErrMalformed},
		"not base64":    {"!!", ErrMalformed},
		"not json":      {enc("nope"), ErrMalformed},
		"wrong types":   {enc(`{"v":1,"k":7}`), ErrMalformed},
		"other version": {enc(`{"v":2,"k":"friends"}`), ErrVersion},
		"no version":    {enc(`{"k":"friends"}`), ErrVersion},
	} {
		var c cursor
		found, err := Decode(tc.token, 64, &c)
		if found || !errors.Is(err, tc.want) || !errors.Is(err, domainerr.ErrInvalidArgument) || !strings.HasPrefix(err.Error(), "page_token: ") {
			t.Errorf("%s: got %v, %v; want %v", name, found, err, tc.want)
		}
	}
}
