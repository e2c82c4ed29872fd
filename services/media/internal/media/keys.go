package media

import (
	"fmt"

	"github.com/google/uuid"
)

// Object keys are made from the file id (a UUID the server generated) and a fixed variant name,
// nothing else: no file name, content type, user id or any other text a client sent can reach a
// key, so keys cannot traverse (`../`), collide or carry markup.
//
//	uploads/<file id>             where the client's POST lands; never served
//	files/<file id>/original      the checked (for images, re-encoded) file
//	files/<file id>/64, …/256     thumbnails of images
//
// A POST form stays usable until it expires even after CompleteUpload, so the checked file never
// lives under the key the form names: a second POST cannot replace a checked file.

// UploadKey is where the client's POST for file id lands.
func UploadKey(id string) (string, error) {
	u, err := canonical(id)
	if err != nil {
		return "", err
	}
	return "uploads/" + u, nil
}

// ObjectKey is where variant v of the checked file id is stored.
func ObjectKey(id string, v Variant) (string, error) {
	u, err := canonical(id)
	if err != nil {
		return "", err
	}
	if _, ok := ParseVariant(string(v)); !ok {
		return "", fmt.Errorf("object key: unknown variant %q", v)
	}
	return "files/" + u + "/" + string(v), nil
}

// AllKeys lists every key file id may have objects under.
func AllKeys(id string) ([]string, error) {
	up, err := UploadKey(id)
	if err != nil {
		return nil, err
	}
	keys := []string{up}
	for _, v := range []Variant{VariantOriginal, VariantThumb64, VariantThumb256} {
		k, _ := ObjectKey(id, v)
		keys = append(keys, k)
	}
	return keys, nil
}

// canonical returns id in canonical lower-case UUID form, refusing anything else: a key is
// never built from text that is not a UUID.
func canonical(id string) (string, error) {
	u, err := uuid.Parse(id)
	if err != nil || u.String() != id {
		return "", fmt.Errorf("object key: %q is not a canonical file id", id)
	}
	return u.String(), nil
}

// NewFileID returns a new random (version 4) file id. File ids appear in stable avatar URLs, so
// they must not be guessable: 122 random bits, no time component.
func NewFileID() string { return uuid.NewString() }
