package imagebuild

import (
	"bytes"
	"encoding/pem"
	"errors"

	"golang.org/x/crypto/x509roots/fallback/bundle"
)

// CABundle is the images' /etc/ssl/certs/ca-certificates.crt: the Mozilla roots Go's
// golang.org/x/crypto/x509roots/fallback module carries, at the version deploy/go.mod pins — not
// the build machine's files, which would make the digest depend on the machine. Roots the bundle
// trusts only with a constraint (e.g. distrusted after a date) are left out: a PEM file cannot
// carry the constraint, and trusting them without it would widen what the bundle trusts.
func CABundle() ([]byte, error) {
	var b bytes.Buffer
	for root := range bundle.Roots() {
		if root.Constraint != nil {
			continue
		}
		if err := pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: root.Certificate}); err != nil {
			return nil, err
		}
	}
	if b.Len() == 0 {
		return nil, errors.New("the CA bundle is empty")
	}
	return b.Bytes(), nil
}
