package mediaimage_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"os"
	"runtime"
	"strings"
	"testing"

	"github.com/parleyhq/parley/services/media/internal/mediaimage"
	"github.com/parleyhq/parley/services/media/internal/mediatest"
)

var limits = mediaimage.Limits{MaxSide: 8192, MaxPixels: 25_000_000}

func problem(t *testing.T, err error, kind mediaimage.ProblemKind, msgPart string) {
	t.Helper()
	var p *mediaimage.Problem
	if !errors.As(err, &p) || p.Kind != kind || !strings.Contains(p.Message, msgPart) {
		t.Fatalf("error %v, want a problem of kind %d mentioning %q", err, kind, msgPart)
	}
}

func TestDetect(t *testing.T) {
	img := mediatest.TwoColour(4, 4)
	webpData, _ := os.ReadFile("testdata/opaque.webp")
	var g bytes.Buffer
	_ = gif.Encode(&g, img, nil)
	for _, c := range []struct {
		data []byte
		want string
	}{
		{mediatest.PNG(t, img), "image/png"},
		{mediatest.JPEG(t, img), "image/jpeg"},
		{g.Bytes(), "image/gif"},
		{webpData, "image/webp"},
		{[]byte("<!DOCTYPE html><html><script>alert(1)</script>"), "text/html; charset=utf-8"},
		{[]byte("%PDF-1.7\n"), "application/pdf"},
		{[]byte{0, 1, 2, 3, 0xfe}, "application/octet-stream"},
	} {
		if got := mediaimage.Detect(c.data); got != c.want {
			t.Errorf("Detect(%q…) = %q, want %q", c.data[:min(8, len(c.data))], got, c.want)
		}
	}
}

// TestPixelFloodRefusedBeforeDecoding hands Process a 30,000 × 30,000 PNG — a valid header and
// nothing behind it — and checks it is refused from the header: decoding would allocate 3.6 GB,
// the refusal allocates next to nothing.
func TestPixelFloodRefusedBeforeDecoding(t *testing.T) {
	data := mediatest.PNGHeader(30000, 30000)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err := mediaimage.Process(data, mediaimage.PNG, limits, mediaimage.Crop)
	runtime.ReadMemStats(&after)
	problem(t, err, mediaimage.TooLarge, "30000x30000 pixels; at most 8192 on a side")
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 1<<20 {
		t.Fatalf("refusing the header allocated %d bytes; decoding was attempted", grew)
	}
	// Within the side limit, the pixel count refuses it.
	_, err = mediaimage.Process(mediatest.PNGHeader(8000, 8000), mediaimage.PNG, limits, mediaimage.Crop)
	problem(t, err, mediaimage.TooLarge, "8000x8000 pixels (64 megapixels); at most 25 megapixels")
}

func TestEXIFRemovedAndOrientationApplied(t *testing.T) {
	src := mediatest.TwoColour(40, 20) // red left, blue right
	tiff := mediatest.EXIF(6, "SECRET-GPS-MARKER")
	for _, c := range []struct {
		name, ct string
		data     []byte
	}{
		{"jpeg", mediaimage.JPEG, mediatest.JPEGWithEXIF(t, src, tiff)},
		{"png", mediaimage.PNG, mediatest.PNGWithEXIF(t, src, tiff)},
	} {
		t.Run(c.name, func(t *testing.T) {
			if o := mediaimage.Orientation(c.data, c.ct); o != 6 {
				t.Fatalf("input orientation %d, the fixture is broken", o)
			}
			out, err := mediaimage.Process(c.data, c.ct, limits, mediaimage.Fit)
			if err != nil {
				t.Fatal(err)
			}
			if out.ContentType != c.ct {
				t.Fatalf("re-encoded as %s", out.ContentType)
			}
			for _, leak := range []string{"Exif", "eXIf", "SECRET-GPS-MARKER", "II*\x00"} {
				if bytes.Contains(out.Data, []byte(leak)) {
					t.Fatalf("output still holds %q", leak)
				}
			}
			if o := mediaimage.Orientation(out.Data, c.ct); o != 1 {
				t.Fatalf("output orientation %d", o)
			}
			// Orientation 6 turns the picture a quarter clockwise: 20 wide, 40 high, the red
			// (left) half on top.
			if out.Width != 20 || out.Height != 40 {
				t.Fatalf("output %dx%d, want 20x40", out.Width, out.Height)
			}
			m, _, err := image.Decode(bytes.NewReader(out.Data))
			if err != nil {
				t.Fatal(err)
			}
			if b := m.Bounds(); b.Dx() != 20 || b.Dy() != 40 {
				t.Fatalf("decoded %v", b)
			}
			if !reddish(m.At(10, 5)) || reddish(m.At(10, 35)) {
				t.Fatalf("top %v, bottom %v: not turned clockwise", m.At(10, 5), m.At(10, 35))
			}
		})
	}
}

func reddish(c color.Color) bool {
	r, _, b, _ := c.RGBA()
	return r > 2*b
}

func TestOrientations(t *testing.T) {
	// A 3×2 image with distinct pixels, turned every way EXIF knows.
	src := image.NewNRGBA(image.Rect(0, 0, 3, 2))
	for i := range 6 {
		src.Pix[i*4], src.Pix[i*4+3] = uint8(i+1), 255
	}
	at := func(m image.Image, x, y int) uint8 { return m.(*image.RGBA).Pix[(y*m.Bounds().Dx()+x)*4] }
	// Source layout:  1 2 3
	//                 4 5 6
	want := map[int][]uint8{
		2: {3, 2, 1, 6, 5, 4},
		3: {6, 5, 4, 3, 2, 1},
		4: {4, 5, 6, 1, 2, 3},
		5: {1, 4, 2, 5, 3, 6},
		6: {4, 1, 5, 2, 6, 3},
		7: {6, 3, 5, 2, 4, 1},
		8: {3, 6, 2, 5, 1, 4},
	}
	for o, pix := range want {
		m := mediaimage.Orient(src, o)
		w := m.Bounds().Dx()
		var got []uint8
		for y := range m.Bounds().Dy() {
			for x := range w {
				got = append(got, at(m, x, y))
			}
		}
		if !bytes.Equal(got, pix) {
			t.Errorf("orientation %d: %v, want %v", o, got, pix)
		}
	}
	if mediaimage.Orient(src, 1) != image.Image(src) {
		t.Error("orientation 1 changed the image")
	}
}

func TestThumbnails(t *testing.T) {
	wide := mediatest.TwoColour(400, 100)
	out, err := mediaimage.Process(mediatest.PNG(t, wide), mediaimage.PNG, limits, mediaimage.Crop)
	if err != nil {
		t.Fatal(err)
	}
	// Every pixel is opaque, so the thumbnails are JPEGs.
	if out.ThumbType != mediaimage.JPEG {
		t.Fatalf("thumb type %s", out.ThumbType)
	}
	size := func(data []byte) (int, int) {
		c, err := jpeg.DecodeConfig(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		return c.Width, c.Height
	}
	if w, h := size(out.Thumb256); w != 256 || h != 256 {
		t.Fatalf("crop 256: %dx%d", w, h)
	}
	if w, h := size(out.Thumb64); w != 64 || h != 64 {
		t.Fatalf("crop 64: %dx%d", w, h)
	}
	out, err = mediaimage.Process(mediatest.PNG(t, wide), mediaimage.PNG, limits, mediaimage.Fit)
	if err != nil {
		t.Fatal(err)
	}
	if w, h := size(out.Thumb256); w != 256 || h != 64 {
		t.Fatalf("fit 256: %dx%d", w, h)
	}
	if w, h := size(out.Thumb64); w != 64 || h != 16 {
		t.Fatalf("fit 64: %dx%d", w, h)
	}
	if m := mediaimage.Thumbnail(mediatest.TwoColour(50, 30), 256, mediaimage.Fit); m.Bounds().Dx() != 50 || m.Bounds().Dy() != 30 {
		t.Fatalf("a small image was enlarged to %v", m.Bounds())
	}
}

func TestWebPReencoded(t *testing.T) {
	for _, c := range []struct{ file, want string }{
		{"testdata/opaque.webp", mediaimage.JPEG},
		{"testdata/alpha.webp", mediaimage.PNG},
	} {
		data, err := os.ReadFile(c.file)
		if err != nil {
			t.Fatal(err)
		}
		cfg, _ := mediaimage.Config(data, mediaimage.WebP)
		out, err := mediaimage.Process(data, mediaimage.WebP, limits, mediaimage.Fit)
		if err != nil {
			t.Fatalf("%s: %v", c.file, err)
		}
		if out.ContentType != c.want || mediaimage.Detect(out.Data) != c.want || out.Width != cfg.Width || out.Height != cfg.Height {
			t.Fatalf("%s: %s (%s) %dx%d, want %s %dx%d", c.file, out.ContentType, mediaimage.Detect(out.Data), out.Width, out.Height, c.want, cfg.Width, cfg.Height)
		}
		if out.ThumbType != c.want {
			t.Fatalf("%s: thumbnails %s", c.file, out.ThumbType)
		}
	}
}

// TestWebPOrientation builds an extended WebP (VP8X) with an EXIF chunk after the image data.
func TestWebPOrientation(t *testing.T) {
	simple, _ := os.ReadFile("testdata/opaque.webp")
	cfg, err := mediaimage.Config(simple, mediaimage.WebP)
	if err != nil {
		t.Fatal(err)
	}
	vp8 := simple[12:] // the VP8 chunk
	vp8x := make([]byte, 18)
	copy(vp8x, "VP8X")
	binary.LittleEndian.PutUint32(vp8x[4:], 10)
	vp8x[8] = 0x08 // EXIF present
	put24 := func(b []byte, v int) { b[0], b[1], b[2] = byte(v), byte(v>>8), byte(v>>16) }
	put24(vp8x[12:], cfg.Width-1)
	put24(vp8x[15:], cfg.Height-1)
	tiff := mediatest.EXIF(8, "SECRET")
	exif := append([]byte("EXIF\x00\x00\x00\x00"), tiff...)
	binary.LittleEndian.PutUint32(exif[4:], uint32(len(tiff)))
	if len(tiff)%2 == 1 {
		exif = append(exif, 0)
	}
	body := append(append(append([]byte("WEBP"), vp8x...), vp8...), exif...)
	data := append([]byte("RIFF\x00\x00\x00\x00"), body...)
	binary.LittleEndian.PutUint32(data[4:], uint32(len(body)))

	if o := mediaimage.Orientation(data, mediaimage.WebP); o != 8 {
		t.Fatalf("orientation %d", o)
	}
	out, err := mediaimage.Process(data, mediaimage.WebP, limits, mediaimage.Fit)
	if err != nil {
		t.Fatal(err)
	}
	if out.Width != cfg.Height || out.Height != cfg.Width || bytes.Contains(out.Data, []byte("SECRET")) {
		t.Fatalf("%dx%d from %dx%d", out.Width, out.Height, cfg.Width, cfg.Height)
	}
}

func TestGIF(t *testing.T) {
	pal := color.Palette{color.Black, color.White, color.Transparent}
	frame := func(c uint8) *image.Paletted {
		m := image.NewPaletted(image.Rect(0, 0, 200, 200), pal)
		for i := range m.Pix {
			m.Pix[i] = c
		}
		return m
	}
	var anim bytes.Buffer
	g := &gif.GIF{Image: []*image.Paletted{frame(0), frame(1), frame(2)}, Delay: []int{10, 20, 30}, LoopCount: 0}
	if err := gif.EncodeAll(&anim, g); err != nil {
		t.Fatal(err)
	}
	// A comment extension carrying a marker, inserted before the first image descriptor.
	data := anim.Bytes()
	at := bytes.IndexByte(data[13+3*4:], 0x2C) + 13 + 3*4
	comment := append([]byte{0x21, 0xFE, 6}, "SECRET"...)
	data = append(append(append([]byte{}, data[:at]...), append(comment, 0)...), data[at:]...)

	out, err := mediaimage.Process(data, mediaimage.GIF, limits, mediaimage.Fit)
	if err != nil {
		t.Fatal(err)
	}
	back, err := gif.DecodeAll(bytes.NewReader(out.Data))
	if err != nil {
		t.Fatal(err)
	}
	if len(back.Image) != 3 || back.Delay[2] != 30 || out.Width != 200 || bytes.Contains(out.Data, []byte("SECRET")) {
		t.Fatalf("animation: %d frames, delays %v, %dx%d", len(back.Image), back.Delay, out.Width, out.Height)
	}
	// The first frame is transparent-free black: JPEG thumbnails.
	if out.ThumbType != mediaimage.JPEG {
		t.Fatalf("thumb type %s", out.ThumbType)
	}
	// 3 frames of 200×200 are 120,000 pixels in all: over a 100,000 budget, refused before
	// any frame is decoded.
	_, err = mediaimage.Process(data, mediaimage.GIF, mediaimage.Limits{MaxSide: 8192, MaxPixels: 100_000}, mediaimage.Fit)
	problem(t, err, mediaimage.TooLarge, "3 frames")
}

func TestUnreadable(t *testing.T) {
	good := mediatest.PNG(t, mediatest.TwoColour(20, 20))
	truncated := good[:len(good)-30]
	_, err := mediaimage.Process(truncated, mediaimage.PNG, limits, mediaimage.Fit)
	problem(t, err, mediaimage.Unreadable, "not a readable PNG image")

	j := mediatest.JPEG(t, mediatest.TwoColour(20, 20))
	_, err = mediaimage.Process(j[:len(j)/2], mediaimage.JPEG, limits, mediaimage.Fit)
	problem(t, err, mediaimage.Unreadable, "not a readable JPEG image")

	_, err = mediaimage.Process([]byte("GIF89a\x10\x00\x10\x00\x00\x00\x00,garbage"), mediaimage.GIF, limits, mediaimage.Fit)
	problem(t, err, mediaimage.Unreadable, "GIF")

	_, err = mediaimage.Process(mediatest.PNGHeader(0, 10), mediaimage.PNG, limits, mediaimage.Fit)
	problem(t, err, mediaimage.Unreadable, "")

	// A PNG encoded by the standard library round-trips.
	out, err := mediaimage.Process(good, mediaimage.PNG, limits, mediaimage.Fit)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := png.Decode(bytes.NewReader(out.Data)); err != nil {
		t.Fatal(err)
	}
}
