package mediatest

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"testing"
)

// TwoColour returns a w×h image whose left half is red and right half blue, so a test can tell
// which way it was turned.
func TwoColour(w, h int) *image.RGBA {
	m := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			c := color.RGBA{R: 220, A: 255}
			if x >= w/2 {
				c = color.RGBA{B: 220, A: 255}
			}
			m.SetRGBA(x, y, c)
		}
	}
	return m
}

// PNG encodes m.
func PNG(t testing.TB, m image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, m); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// JPEG encodes m.
func JPEG(t testing.TB, m image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := jpeg.Encode(&b, m, &jpeg.Options{Quality: 95}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// EXIF returns a little-endian EXIF TIFF structure with the given orientation, an
// ImageDescription holding marker, and a GPS IFD (latitude N 48° 51' 29.88").
func EXIF(orientation int, marker string) []byte {
	le := binary.LittleEndian
	b := make([]byte, 104, 104+len(marker)+1)
	copy(b, "II")
	le.PutUint16(b[2:], 42)
	le.PutUint32(b[4:], 8)
	entry := func(at int, tag, typ uint16, count, value uint32) {
		le.PutUint16(b[at:], tag)
		le.PutUint16(b[at+2:], typ)
		le.PutUint32(b[at+4:], count)
		le.PutUint32(b[at+8:], value)
	}
	// IFD0 at 8: ImageDescription, Orientation, GPSInfo; next IFD 0. Ends at 50.
	le.PutUint16(b[8:], 3)
	entry(10, 0x010E, 2, uint32(len(marker)+1), 104)
	entry(22, 0x0112, 3, 1, uint32(orientation))
	entry(34, 0x8825, 4, 1, 50)
	// GPS IFD at 50: GPSLatitudeRef "N", GPSLatitude (3 rationals at 80). Ends at 80.
	le.PutUint16(b[50:], 2)
	entry(52, 0x0001, 2, 2, uint32('N'))
	entry(64, 0x0002, 5, 3, 80)
	for i, v := range []uint32{48, 1, 51, 1, 2988, 100} {
		le.PutUint32(b[80+4*i:], v)
	}
	b = append(b, marker...)
	return append(b, 0)
}

// JPEGWithEXIF returns m as a JPEG carrying tiff in an APP1 Exif segment.
func JPEGWithEXIF(t testing.TB, m image.Image, tiff []byte) []byte {
	t.Helper()
	j := JPEG(t, m)
	seg := append([]byte("Exif\x00\x00"), tiff...)
	app1 := []byte{0xFF, 0xE1, 0, 0}
	binary.BigEndian.PutUint16(app1[2:], uint16(len(seg)+2))
	out := append([]byte{}, j[:2]...) // SOI
	out = append(out, app1...)
	out = append(out, seg...)
	return append(out, j[2:]...)
}

// PNGWithEXIF returns m as a PNG carrying tiff in an eXIf chunk after IHDR.
func PNGWithEXIF(t testing.TB, m image.Image, tiff []byte) []byte {
	t.Helper()
	p := PNG(t, m)
	const afterIHDR = 8 + 4 + 4 + 13 + 4
	out := append([]byte{}, p[:afterIHDR]...)
	out = append(out, Chunk("eXIf", tiff)...)
	return append(out, p[afterIHDR:]...)
}

// Chunk encodes one PNG chunk.
func Chunk(typ string, data []byte) []byte {
	c := make([]byte, 8, 12+len(data))
	binary.BigEndian.PutUint32(c, uint32(len(data)))
	copy(c[4:], typ)
	c = append(c, data...)
	return binary.BigEndian.AppendUint32(c, crc32.ChecksumIEEE(c[4:]))
}

// PNGHeader returns just the start of a PNG that claims to be w×h RGBA pixels: signature,
// IHDR and a tiny IDAT. Its header is valid; decoding it would need w×h×4 bytes.
func PNGHeader(w, h uint32) []byte {
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr, w)
	binary.BigEndian.PutUint32(ihdr[4:], h)
	ihdr[8], ihdr[9] = 8, 6 // 8 bits, RGBA
	out := []byte("\x89PNG\r\n\x1a\n")
	out = append(out, Chunk("IHDR", ihdr)...)
	out = append(out, Chunk("IDAT", []byte{0x78, 0x9c, 0x63, 0, 0, 0, 1, 0, 1})...)
	return append(out, Chunk("IEND", nil)...)
}
