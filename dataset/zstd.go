package dataset

import (
	"runtime"

	"github.com/klauspost/compress/zstd"
	"github.com/parquet-go/parquet-go/format"
)

// zstdCodec is the Parquet ZSTD codec the writer uses. It is parquet-go's
// codec (klauspost/compress at its fastest level) with two differences that
// matter for a writer holding a few row groups in flight:
//
//   - the window is 1 MiB instead of the 4 MiB of the fastest level: pages
//     are a few hundred KiB, so nothing is lost, and each encoder's history
//     buffer is 2 MiB instead of 8 MiB;
//   - encoders are kept in a bounded free list rather than a sync.Pool,
//     which drops them at every garbage collection, so they are not
//     reallocated over and over while writing.
//
// The frames are ordinary zstd frames; any Parquet reader decodes them.
type zstdCodec struct {
	free chan *zstd.Encoder
}

// zstdWindow is the encoder window in bytes (a power of two).
const zstdWindow = 1 << 20

var writerCodec = &zstdCodec{free: make(chan *zstd.Encoder, runtime.GOMAXPROCS(0)+1)}

func (c *zstdCodec) String() string { return "ZSTD" }

func (c *zstdCodec) CompressionCodec() format.CompressionCodec { return format.Zstd }

func (c *zstdCodec) Encode(dst, src []byte) ([]byte, error) {
	var e *zstd.Encoder
	select {
	case e = <-c.free:
	default:
		var err error
		e, err = zstd.NewWriter(nil,
			zstd.WithEncoderLevel(zstd.SpeedFastest),
			zstd.WithWindowSize(zstdWindow),
			zstd.WithEncoderConcurrency(1),
			zstd.WithZeroFrames(true),
			zstd.WithEncoderCRC(false),
		)
		if err != nil {
			return nil, err
		}
	}
	out := e.EncodeAll(src, dst[:0])
	select {
	case c.free <- e:
	default:
	}
	return out, nil
}

// Decode is only here to satisfy the codec interface: readers use
// parquet-go's codec, chosen from the file.
func (c *zstdCodec) Decode(dst, src []byte) ([]byte, error) {
	d, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1))
	if err != nil {
		return nil, err
	}
	defer d.Close()
	return d.DecodeAll(src, dst[:0])
}
