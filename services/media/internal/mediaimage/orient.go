package mediaimage

import (
	"encoding/binary"
	"image"
	stddraw "image/draw"
)

// Orientation returns the EXIF orientation (1–8) recorded in an image's metadata — a JPEG's APP1
// segment, a PNG's eXIf chunk or a WebP's EXIF chunk — or 1 when there is none.
func Orientation(data []byte, ct string) int {
	var tiff []byte
	switch ct {
	case JPEG:
		tiff = jpegExif(data)
	case PNG:
		tiff = pngExif(data)
	case WebP:
		tiff = webpExif(data)
	}
	return tiffOrientation(tiff)
}

func jpegExif(d []byte) []byte {
	if len(d) < 4 || d[0] != 0xFF || d[1] != 0xD8 {
		return nil
	}
	i := 2
	for i+4 <= len(d) {
		if d[i] != 0xFF {
			return nil
		}
		marker := d[i+1]
		switch {
		case marker == 0xFF: // fill byte
			i++
			continue
		case marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7): // no length
			i += 2
			continue
		case marker == 0xDA || marker == 0xD9: // start of scan, end of image: no more metadata
			return nil
		}
		n := int(binary.BigEndian.Uint16(d[i+2:]))
		if n < 2 || i+2+n > len(d) {
			return nil
		}
		seg := d[i+4 : i+2+n]
		if marker == 0xE1 && len(seg) > 6 && string(seg[:6]) == "Exif\x00\x00" {
			return seg[6:]
		}
		i += 2 + n
	}
	return nil
}

func pngExif(d []byte) []byte {
	i := 8
	for i+12 <= len(d) {
		n := int(binary.BigEndian.Uint32(d[i:]))
		typ := string(d[i+4 : i+8])
		if n < 0 || n > len(d)-i-12 {
			return nil
		}
		if typ == "eXIf" {
			return d[i+8 : i+8+n]
		}
		if typ == "IEND" {
			return nil
		}
		i += 12 + n
	}
	return nil
}

func webpExif(d []byte) []byte {
	if len(d) < 12 || string(d[:4]) != "RIFF" || string(d[8:12]) != "WEBP" {
		return nil
	}
	i := 12
	for i+8 <= len(d) {
		n := int(binary.LittleEndian.Uint32(d[i+4:]))
		if n < 0 || n > len(d)-i-8 {
			return nil
		}
		if string(d[i:i+4]) == "EXIF" {
			chunk := d[i+8 : i+8+n]
			if len(chunk) > 6 && string(chunk[:6]) == "Exif\x00\x00" {
				chunk = chunk[6:]
			}
			return chunk
		}
		i += 8 + n + n&1
	}
	return nil
}

// tiffOrientation reads tag 0x0112 (Orientation) of IFD0 of an EXIF TIFF structure.
func tiffOrientation(t []byte) int {
	if len(t) < 8 {
		return 1
	}
	var bo binary.ByteOrder
	switch string(t[:2]) {
	case "II":
		bo = binary.LittleEndian
	case "MM":
		bo = binary.BigEndian
	default:
		return 1
	}
	if bo.Uint16(t[2:]) != 42 {
		return 1
	}
	ifd := int(bo.Uint32(t[4:]))
	if ifd < 8 || ifd+2 > len(t) {
		return 1
	}
	n := int(bo.Uint16(t[ifd:]))
	for k := range n {
		e := ifd + 2 + 12*k
		if e+12 > len(t) {
			return 1
		}
		if bo.Uint16(t[e:]) == 0x0112 && bo.Uint16(t[e+2:]) == 3 { // SHORT
			if o := int(bo.Uint16(t[e+8:])); o >= 1 && o <= 8 {
				return o
			}
			return 1
		}
	}
	return 1
}

// Orient returns img transformed so that it displays upright given EXIF orientation o (1–8);
// orientations 5–8 swap width and height.
func Orient(img image.Image, o int) image.Image {
	if o < 2 || o > 8 {
		return img
	}
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	// An opaque image is worked on as RGBA, the rest as NRGBA so that alpha is kept as it is.
	opaque := isOpaque(img)
	fresh := newNRGBA
	if opaque {
		fresh = newRGBA
	}
	var pix []byte
	var stride int
	switch m := img.(type) {
	case *image.RGBA:
		if opaque {
			pix, stride = m.Pix, m.Stride
		}
	case *image.NRGBA:
		if !opaque {
			pix, stride = m.Pix, m.Stride
		}
	}
	if pix == nil { // not of the kind wanted: a copy that is
		var src stddraw.Image
		src, pix, stride = fresh(image.Rect(0, 0, w, h))
		stddraw.Draw(src, src.Bounds(), img, b.Min, stddraw.Src)
	}
	dw, dh := w, h
	if o >= 5 {
		dw, dh = h, w
	}
	out, dst, dstride := fresh(image.Rect(0, 0, dw, dh))
	for y := range h {
		row := pix[y*stride:]
		for x := range w {
			var dx, dy int
			switch o {
			case 2: // mirrored horizontally
				dx, dy = w-1-x, y
			case 3: // rotated 180°
				dx, dy = w-1-x, h-1-y
			case 4: // mirrored vertically
				dx, dy = x, h-1-y
			case 5: // transposed
				dx, dy = y, x
			case 6: // needs a 90° clockwise turn
				dx, dy = h-1-y, x
			case 7: // transversed
				dx, dy = h-1-y, w-1-x
			case 8: // needs a 90° counter-clockwise turn
				dx, dy = y, w-1-x
			}
			copy(dst[dy*dstride+dx*4:dy*dstride+dx*4+4], row[x*4:x*4+4])
		}
	}
	return out
}

// newRGBA and newNRGBA make an image of r, returned with its pixels (4 bytes each) and stride.
func newRGBA(r image.Rectangle) (stddraw.Image, []byte, int) {
	m := image.NewRGBA(r)
	return m, m.Pix, m.Stride
}

func newNRGBA(r image.Rectangle) (stddraw.Image, []byte, int) {
	m := image.NewNRGBA(r)
	return m, m.Pix, m.Stride
}
