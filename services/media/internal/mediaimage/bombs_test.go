package mediaimage_test

import (
	"bytes"
	"encoding/binary"
	"image"
	"image/color"
	"image/png"
	"math/rand/v2"
	"os"
	"runtime"
	"testing"

	"github.com/parleyhq/parley/services/media/internal/mediaimage"
)

// bombLimits are the service's defaults for the checks read from headers.
var bombLimits = mediaimage.Limits{MaxSide: 8192, MaxPixels: 25_000_000, MaxFrames: 1000}

// jpegHeader is the start of a baseline JPEG claiming w×h pixels in three components: SOI, a JFIF
// APP0 and a SOF0 segment, nothing to decode. Decoding it would need w×h×3 bytes.
func jpegHeader(w, h uint16) []byte {
	b := []byte{0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, 'J', 'F', 'I', 'F', 0, 1, 1, 0, 0, 1, 0, 1, 0, 0}
	b = append(b, 0xFF, 0xC0, 0x00, 0x11, 0x08)
	b = binary.BigEndian.AppendUint16(b, h)
	b = binary.BigEndian.AppendUint16(b, w)
	b = append(b, 3, 1, 0x11, 0, 2, 0x11, 0, 3, 0x11, 0)
	return append(b, 0xFF, 0xD9)
}

// gifFile is a GIF with a w×h logical screen and the given frames (each w×h at 0,0), every frame
// an empty LZW stream: a few bytes that claim as many pixels as wanted.
func gifFile(screenW, screenH uint16, frames [][2]uint16) []byte {
	b := []byte("GIF89a")
	b = binary.LittleEndian.AppendUint16(b, screenW)
	b = binary.LittleEndian.AppendUint16(b, screenH)
	b = append(b, 0x80, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0xFF) // global table of 2 colours
	for _, f := range frames {
		b = append(b, 0x2C, 0, 0, 0, 0)
		b = binary.LittleEndian.AppendUint16(b, f[0])
		b = binary.LittleEndian.AppendUint16(b, f[1])
		b = append(b, 0, 2, 0) // no local table; LZW minimum code size 2; no data
	}
	return append(b, 0x3B)
}

// riff wraps one WebP chunk in a RIFF container.
func riff(fourCC string, payload []byte) []byte {
	chunk := append([]byte(fourCC), binary.LittleEndian.AppendUint32(nil, uint32(len(payload)))...)
	chunk = append(chunk, payload...)
	if len(payload)%2 == 1 {
		chunk = append(chunk, 0)
	}
	b := append([]byte("RIFF"), binary.LittleEndian.AppendUint32(nil, uint32(4+len(chunk)))...)
	return append(append(b, "WEBP"...), chunk...)
}

// webpLossless claims w×h pixels in a VP8L header (14 bits a side).
func webpLossless(w, h uint32) []byte {
	bits := (w - 1) | (h-1)<<14 | 1<<28 // alpha used, version 0
	return riff("VP8L", append([]byte{0x2F}, binary.LittleEndian.AppendUint32(nil, bits)...))
}

// webpLossy claims w×h pixels in a VP8 key frame header.
func webpLossy(w, h uint16) []byte {
	p := []byte{0x10, 0x02, 0x00, 0x9D, 0x01, 0x2A} // key frame, shown, first partition; start code
	p = binary.LittleEndian.AppendUint16(p, w)
	p = binary.LittleEndian.AppendUint16(p, h)
	return riff("VP8 ", append(p, make([]byte, 10)...))
}

// webpExtended claims a w×h canvas in a VP8X header (24 bits a side) and carries nothing else.
func webpExtended(w, h uint32) []byte {
	p := []byte{0x10, 0, 0, 0} // alpha flag
	p = append(p, byte(w-1), byte((w-1)>>8), byte((w-1)>>16))
	p = append(p, byte(h-1), byte((h-1)>>8), byte((h-1)>>16))
	return riff("VP8X", p)
}

// TestDecompressionBombsRefusedFromHeaders: small files whose headers declare huge images, in
// every format. Each is refused from its header, with a message saying why, and refusing it
// allocates next to nothing (decoding would need gigabytes).
func TestDecompressionBombsRefusedFromHeaders(t *testing.T) {
	manyFrames := make([][2]uint16, 1001)
	for i := range manyFrames {
		manyFrames[i] = [2]uint16{1, 1}
	}
	for _, tc := range []struct {
		name, ct string
		data     []byte
		msg      string
	}{
		{"JPEG 60000x60000", mediaimage.JPEG, jpegHeader(60000, 60000), "60000x60000 pixels; at most 8192 on a side"},
		{"JPEG 8000x8000", mediaimage.JPEG, jpegHeader(8000, 8000), "8000x8000 pixels (64 megapixels); at most 25 megapixels"},
		{"GIF with a huge logical screen", mediaimage.GIF, gifFile(65535, 65535, [][2]uint16{{1, 1}}), "65535x65535 pixels; at most 8192 on a side"},
		{"GIF whose frames add up", mediaimage.GIF, gifFile(5000, 5000, [][2]uint16{{5000, 5000}, {5000, 5000}}), "the animation has 2 frames of 50 megapixels in all; at most 25 megapixels"},
		{"GIF with a frame over the screen", mediaimage.GIF, gifFile(100, 100, [][2]uint16{{65535, 65535}}), "the animation has 1 frames of 4294.8 megapixels in all"},
		{"GIF with many tiny frames", mediaimage.GIF, gifFile(1, 1, manyFrames), "the animation has 1001 frames; at most 1000"},
		{"WebP lossless 16384x16384", mediaimage.WebP, webpLossless(16384, 16384), "16384x16384 pixels; at most 8192 on a side"},
		{"WebP lossy 16383x16383", mediaimage.WebP, webpLossy(16383, 16383), "16383x16383 pixels; at most 8192 on a side"},
		{"WebP extended 40000x40000", mediaimage.WebP, webpExtended(40000, 40000), "40000x40000 pixels; at most 8192 on a side"},
		{"WebP extended 6000x6000", mediaimage.WebP, webpExtended(6000, 6000), "6000x6000 pixels (36 megapixels); at most 25 megapixels"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if len(tc.data) > 16<<10 {
				t.Fatalf("the bomb is %d bytes; it should be tiny", len(tc.data))
			}
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			_, err := mediaimage.Process(tc.data, tc.ct, bombLimits, mediaimage.Fit)
			runtime.ReadMemStats(&after)
			problem(t, err, mediaimage.TooLarge, tc.msg)
			if grew := after.TotalAlloc - before.TotalAlloc; grew > 1<<20 {
				t.Fatalf("refusing the header allocated %d bytes; decoding was attempted", grew)
			}
		})
	}
}

// noise is an image that compresses badly, with transparency (so it is re-encoded as PNG).
func noise(w, h int) *image.NRGBA {
	m := image.NewNRGBA(image.Rect(0, 0, w, h))
	r := rand.New(rand.NewPCG(1, 2))
	for i := range m.Pix {
		m.Pix[i] = byte(r.Uint32())
	}
	m.Pix[3] = 0 // at least one transparent pixel
	m.Set(0, 0, color.NRGBA{})
	return m
}

// TestReencodedOutputIsBounded: a WebP re-encoded as PNG (it has no encoder of its own) can come
// out far larger than it went in; encoding stops at MaxOutputBytes and the file is refused.
func TestReencodedOutputIsBounded(t *testing.T) {
	webpData, err := os.ReadFile("testdata/alpha.webp")
	if err != nil {
		t.Fatal(err)
	}
	lim := bombLimits
	out, err := mediaimage.Process(webpData, mediaimage.WebP, lim, mediaimage.Fit)
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Data) <= len(webpData) || out.ContentType != mediaimage.PNG {
		t.Fatalf("the premise: %d-byte WebP became a %d-byte %s", len(webpData), len(out.Data), out.ContentType)
	}
	lim.MaxOutputBytes = int64(len(webpData)) // the PNG it becomes is larger
	_, err = mediaimage.Process(webpData, mediaimage.WebP, lim, mediaimage.Fit)
	problem(t, err, mediaimage.TooLarge, "the re-encoded image would be larger than")

	var in bytes.Buffer
	if err := png.Encode(&in, noise(600, 600)); err != nil { // ~1.4 MB of incompressible PNG
		t.Fatal(err)
	}
	lim.MaxOutputBytes = 100 << 10
	_, err = mediaimage.Process(in.Bytes(), mediaimage.PNG, lim, mediaimage.Fit)
	problem(t, err, mediaimage.TooLarge, "the re-encoded image would be larger than 102400 bytes")
}
