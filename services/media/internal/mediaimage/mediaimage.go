// Package mediaimage checks and cleans uploaded raster images: it detects a file's real type from
// its magic bytes, reads an image's dimensions from its header before anything is decoded
// (refusing pixel floods without allocating them), decodes within those bounds, applies the EXIF
// orientation, re-encodes the pixels alone (so EXIF, GPS, XMP, comments and every other piece of
// metadata are gone) and renders 64 and 256 pixel thumbnails.
//
// Formats: PNG, JPEG, GIF (animations kept) and WebP (decoded with golang.org/x/image/webp, which
// has no encoder: WebP is re-encoded as JPEG when fully opaque, as PNG otherwise).
package mediaimage

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	stddraw "image/draw"
	"image/gif"
	"image/jpeg"
	"image/png"
	"net/http"
	"strings"

	"golang.org/x/image/draw"
	"golang.org/x/image/webp"
)

// Content types handled here.
const (
	PNG  = "image/png"
	JPEG = "image/jpeg"
	GIF  = "image/gif"
	WebP = "image/webp"
)

// Quality settings of the encoders.
const (
	jpegQuality      = 90
	thumbJPEGQuality = 85
)

// Thumbnail sizes in pixels.
const (
	Thumb64  = 64
	Thumb256 = 256
)

// Detect returns the content type of a file from its first bytes (up to 512 are looked at), by
// the WHATWG MIME sniffing algorithm (net/http.DetectContentType): "image/png", "application/pdf",
// "text/html; charset=utf-8", "application/octet-stream" when nothing matches.
func Detect(head []byte) string {
	return http.DetectContentType(head)
}

// Limits bound the images accepted.
type Limits struct {
	// MaxSide is the largest width or height, in pixels.
	MaxSide int
	// MaxPixels is the largest width × height (for an animated GIF: of all frames together).
	MaxPixels int64
	// MaxFrames is the most frames an animated GIF may have (many tiny frames cost time and
	// memory per frame that their small area does not count). 0: no limit.
	MaxFrames int
	// MaxOutputBytes bounds the re-encoded image (a small lossy WebP can become a PNG hundreds of
	// times larger); encoding stops as soon as it passes the bound. 0: no limit.
	MaxOutputBytes int64
}

// ThumbMode says how thumbnails are framed.
type ThumbMode int

const (
	// Crop takes the largest centred square and scales it to exactly N×N (avatars).
	Crop ThumbMode = iota
	// Fit scales the whole image to fit inside N×N, keeping its aspect ratio and never
	// enlarging it (attachments, so a preview shows the whole picture).
	Fit
)

// Output is a cleaned image and its thumbnails.
type Output struct {
	Data          []byte
	ContentType   string
	Width, Height int
	Thumb64       []byte
	Thumb256      []byte
	ThumbType     string
}

// ProblemKind classifies why an image is refused.
type ProblemKind int

const (
	// TooLarge: the image's dimensions exceed the limits.
	TooLarge ProblemKind = iota + 1
	// Unreadable: the image cannot be decoded.
	Unreadable
)

// Problem is an image refused, with a message for a person.
type Problem struct {
	Kind    ProblemKind
	Message string
}

func (p *Problem) Error() string { return p.Message }

func unreadable(ct string, err error) *Problem {
	name := strings.ToUpper(strings.TrimPrefix(ct, "image/"))
	msg := fmt.Sprintf("the file is not a readable %s image", name)
	if err != nil {
		msg += " (" + err.Error() + ")"
	}
	return &Problem{Kind: Unreadable, Message: msg}
}

// Config reads an image's dimensions from its header without decoding its pixels.
func Config(data []byte, ct string) (image.Config, error) {
	r := bytes.NewReader(data)
	switch ct {
	case PNG:
		return png.DecodeConfig(r)
	case JPEG:
		return jpeg.DecodeConfig(r)
	case GIF:
		return gif.DecodeConfig(r)
	case WebP:
		return webp.DecodeConfig(r)
	}
	return image.Config{}, fmt.Errorf("unsupported image type %q", ct)
}

// CheckDimensions refuses images wider or taller than MaxSide or with more than MaxPixels.
func CheckDimensions(w, h int, lim Limits) *Problem {
	if w <= 0 || h <= 0 {
		return &Problem{Kind: Unreadable, Message: fmt.Sprintf("the image claims to be %dx%d pixels", w, h)}
	}
	if lim.MaxSide > 0 && (w > lim.MaxSide || h > lim.MaxSide) {
		return &Problem{Kind: TooLarge, Message: fmt.Sprintf("the image is %dx%d pixels; at most %d on a side", w, h, lim.MaxSide)}
	}
	if px := int64(w) * int64(h); lim.MaxPixels > 0 && px > lim.MaxPixels {
		return &Problem{Kind: TooLarge, Message: fmt.Sprintf("the image is %dx%d pixels (%s); at most %s",
			w, h, megapixels(px), megapixels(lim.MaxPixels))}
	}
	return nil
}

func megapixels(px int64) string {
	return strings.TrimSuffix(fmt.Sprintf("%.1f", float64(px)/1e6), ".0") + " megapixels"
}

// Process checks and cleans an image whose content type ct was detected from its bytes. The
// dimensions are checked from the header first; the pixels are decoded only when they are within
// lim. Any failure is a *Problem.
func Process(data []byte, ct string, lim Limits, mode ThumbMode) (out Output, err error) {
	defer func() {
		// The standard decoders are fuzzed and should not panic; if one does, the file is
		// unreadable, not the service broken.
		if r := recover(); r != nil {
			out, err = Output{}, unreadable(ct, nil)
		}
	}()
	cfg, err := Config(data, ct)
	if err != nil {
		return Output{}, unreadable(ct, err)
	}
	if p := CheckDimensions(cfg.Width, cfg.Height, lim); p != nil {
		return Output{}, p
	}
	if ct == GIF {
		return processGIF(data, cfg, lim, mode)
	}

	var img image.Image
	switch ct {
	case PNG:
		img, err = png.Decode(bytes.NewReader(data))
	case JPEG:
		img, err = jpeg.Decode(bytes.NewReader(data))
	case WebP:
		img, err = webp.Decode(bytes.NewReader(data))
	}
	if err != nil {
		return Output{}, unreadable(ct, err)
	}
	if b := img.Bounds(); b.Dx() != cfg.Width || b.Dy() != cfg.Height {
		return Output{}, unreadable(ct, errors.New("its header and its pixels disagree on its size"))
	}
	img = Orient(img, Orientation(data, ct))
	opaque := isOpaque(img)

	buf := &cappedBuffer{max: lim.MaxOutputBytes}
	switch {
	case ct == PNG || (ct == WebP && !opaque):
		out.ContentType = PNG
		err = (&png.Encoder{CompressionLevel: png.DefaultCompression}).Encode(buf, img)
	default: // JPEG, and opaque WebP
		out.ContentType = JPEG
		err = jpeg.Encode(buf, img, &jpeg.Options{Quality: jpegQuality})
	}
	if errors.Is(err, errOutputTooLarge) {
		return Output{}, outputTooLarge(lim)
	}
	if err != nil {
		return Output{}, fmt.Errorf("re-encode %s: %w", ct, err)
	}
	out.Data = buf.Bytes()
	b := img.Bounds()
	out.Width, out.Height = b.Dx(), b.Dy()
	if err := thumbnails(&out, img, opaque, mode); err != nil {
		return Output{}, err
	}
	return out, nil
}

func processGIF(data []byte, cfg image.Config, lim Limits, mode ThumbMode) (Output, error) {
	frames, area, err := scanGIF(data)
	if err != nil {
		return Output{}, unreadable(GIF, err)
	}
	if lim.MaxFrames > 0 && frames > lim.MaxFrames {
		return Output{}, &Problem{Kind: TooLarge, Message: fmt.Sprintf("the animation has %d frames; at most %d", frames, lim.MaxFrames)}
	}
	if lim.MaxPixels > 0 && area > lim.MaxPixels {
		return Output{}, &Problem{Kind: TooLarge, Message: fmt.Sprintf("the animation has %d frames of %s in all; at most %s",
			frames, megapixels(area), megapixels(lim.MaxPixels))}
	}
	g, err := gif.DecodeAll(bytes.NewReader(data))
	if err != nil {
		return Output{}, unreadable(GIF, err)
	}
	if len(g.Image) == 0 {
		return Output{}, unreadable(GIF, errors.New("no frames"))
	}
	// EncodeAll writes the frames, their timing, disposal and transparency and the loop count;
	// comments and application extensions (XMP) are not carried over.
	buf := &cappedBuffer{max: lim.MaxOutputBytes}
	if err := gif.EncodeAll(buf, g); errors.Is(err, errOutputTooLarge) {
		return Output{}, outputTooLarge(lim)
	} else if err != nil {
		return Output{}, fmt.Errorf("re-encode gif: %w", err)
	}
	first := image.NewRGBA(image.Rect(0, 0, cfg.Width, cfg.Height))
	stddraw.Draw(first, g.Image[0].Bounds(), g.Image[0], g.Image[0].Bounds().Min, stddraw.Over)
	out := Output{Data: buf.Bytes(), ContentType: GIF, Width: cfg.Width, Height: cfg.Height}
	if err := thumbnails(&out, first, isOpaque(first), mode); err != nil {
		return Output{}, err
	}
	return out, nil
}

var errOutputTooLarge = errors.New("re-encoded image over the output limit")

func outputTooLarge(lim Limits) *Problem {
	return &Problem{Kind: TooLarge, Message: fmt.Sprintf("the re-encoded image would be larger than %s; send a smaller or simpler image",
		humanBytes(lim.MaxOutputBytes))}
}

func humanBytes(n int64) string {
	if n >= 1<<20 {
		return strings.TrimSuffix(fmt.Sprintf("%.1f", float64(n)/(1<<20)), ".0") + " MiB"
	}
	return fmt.Sprintf("%d bytes", n)
}

// cappedBuffer collects an encoder's output and refuses to grow past max (0: no bound), so an
// encoder producing too much stops at the bound instead of allocating all of it. It offers Write
// only (no WriteByte, WriteString or ReadFrom that would go around the bound).
type cappedBuffer struct {
	buf bytes.Buffer
	max int64
}

func (c *cappedBuffer) Write(p []byte) (int, error) {
	if c.max > 0 && int64(c.buf.Len())+int64(len(p)) > c.max {
		return 0, errOutputTooLarge
	}
	return c.buf.Write(p)
}

// Bytes returns what was written.
func (c *cappedBuffer) Bytes() []byte { return c.buf.Bytes() }

// thumbnails renders the 256 px thumbnail from img and the 64 px one from that.
func thumbnails(out *Output, img image.Image, opaque bool, mode ThumbMode) error {
	t256 := Thumbnail(img, Thumb256, mode)
	t64 := Thumbnail(t256, Thumb64, mode)
	enc := func(m image.Image) ([]byte, error) {
		var buf bytes.Buffer
		var err error
		if opaque {
			err = jpeg.Encode(&buf, m, &jpeg.Options{Quality: thumbJPEGQuality})
		} else {
			err = png.Encode(&buf, m)
		}
		return buf.Bytes(), err
	}
	var err error
	if out.Thumb256, err = enc(t256); err != nil {
		return fmt.Errorf("encode thumbnail: %w", err)
	}
	if out.Thumb64, err = enc(t64); err != nil {
		return fmt.Errorf("encode thumbnail: %w", err)
	}
	out.ThumbType = PNG
	if opaque {
		out.ThumbType = JPEG
	}
	return nil
}

// Thumbnail scales img to size: a size×size centre crop (Crop), or the whole image fitted inside
// size×size without enlarging it (Fit).
func Thumbnail(img image.Image, size int, mode ThumbMode) *image.RGBA {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	src := b
	dw, dh := size, size
	switch mode {
	case Crop:
		side := min(w, h)
		x0, y0 := b.Min.X+(w-side)/2, b.Min.Y+(h-side)/2
		src = image.Rect(x0, y0, x0+side, y0+side)
	case Fit:
		switch {
		case w <= size && h <= size:
			dw, dh = w, h
		case w >= h:
			dh = max(1, (h*size+w/2)/w)
		default:
			dw = max(1, (w*size+h/2)/h)
		}
	}
	dst := image.NewRGBA(image.Rect(0, 0, dw, dh))
	draw.CatmullRom.Scale(dst, dst.Bounds(), img, src, draw.Src, nil)
	return dst
}

func isOpaque(img image.Image) bool {
	if o, ok := img.(interface{ Opaque() bool }); ok {
		return o.Opaque()
	}
	return false
}

// scanGIF walks a GIF's blocks without decoding them and returns the number of frames and their
// total area in pixels, so an animation's memory can be bounded before it is decoded.
func scanGIF(data []byte) (frames int, area int64, err error) {
	if len(data) < 13 || (string(data[:6]) != "GIF87a" && string(data[:6]) != "GIF89a") {
		return 0, 0, errors.New("not a GIF")
	}
	i := 13
	if flags := data[10]; flags&0x80 != 0 {
		i += 3 << ((flags & 7) + 1)
	}
	for {
		if i >= len(data) {
			return 0, 0, errTruncatedGIF
		}
		switch data[i] {
		case 0x21: // extension: label, then sub-blocks
			if i, err = skipGIFSubBlocks(data, i+2); err != nil {
				return 0, 0, err
			}
		case 0x2C: // image descriptor
			if i+10 > len(data) {
				return 0, 0, errTruncatedGIF
			}
			w := int64(data[i+5]) | int64(data[i+6])<<8
			h := int64(data[i+7]) | int64(data[i+8])<<8
			flags := data[i+9]
			i += 10
			if flags&0x80 != 0 {
				i += 3 << ((flags & 7) + 1)
			}
			// After the LZW minimum code size.
			if i, err = skipGIFSubBlocks(data, i+1); err != nil {
				return 0, 0, err
			}
			frames++
			area += w * h
		case 0x3B: // trailer
			if frames == 0 {
				return 0, 0, errors.New("GIF without frames")
			}
			return frames, area, nil
		default:
			return 0, 0, fmt.Errorf("malformed GIF block 0x%02x", data[i])
		}
	}
}

var errTruncatedGIF = errors.New("truncated GIF")

// skipGIFSubBlocks skips the data sub-blocks starting at data[i], through their zero-length
// terminator, and returns the index after it.
func skipGIFSubBlocks(data []byte, i int) (int, error) {
	for {
		if i >= len(data) {
			return i, errTruncatedGIF
		}
		n := int(data[i])
		i++
		if n == 0 {
			return i, nil
		}
		i += n
	}
}
