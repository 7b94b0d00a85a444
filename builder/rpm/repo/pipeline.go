package repo

import (
	"io"
	"sync"
)

// asyncReader reads its source in a goroutine, a few chunks ahead, so
// decompression runs on one core while the parser runs on another.
type asyncReader struct {
	chunks chan chunk
	free   chan []byte
	done   chan struct{}
	once   sync.Once
	wg     sync.WaitGroup
	cur    []byte // unread part of the current chunk
	buf    []byte // the current chunk, to recycle
	err    error
}

type chunk struct {
	data []byte
	err  error
}

const (
	asyncChunk  = 256 << 10
	asyncChunks = 4
)

func newAsyncReader(src io.Reader) *asyncReader {
	a := &asyncReader{
		chunks: make(chan chunk, asyncChunks),
		free:   make(chan []byte, asyncChunks+2),
		done:   make(chan struct{}),
	}
	for range asyncChunks + 2 {
		a.free <- make([]byte, asyncChunk)
	}
	a.wg.Add(1)
	go a.run(src)
	return a
}

func (a *asyncReader) run(src io.Reader) {
	defer a.wg.Done()
	defer close(a.chunks)
	for {
		var buf []byte
		select {
		case buf = <-a.free:
		case <-a.done:
			return
		}
		n, err := io.ReadFull(src, buf)
		if err == io.ErrUnexpectedEOF {
			err = io.EOF
		}
		select {
		case a.chunks <- chunk{buf[:n], err}:
		case <-a.done:
			return
		}
		if err != nil {
			return
		}
	}
}

func (a *asyncReader) Read(p []byte) (int, error) {
	for len(a.cur) == 0 {
		if a.err != nil {
			return 0, a.err
		}
		if a.buf != nil {
			a.free <- a.buf[:cap(a.buf)]
			a.buf = nil
		}
		c, ok := <-a.chunks
		if !ok {
			return 0, io.ErrClosedPipe
		}
		a.cur, a.buf, a.err = c.data, c.data, c.err
	}
	n := copy(p, a.cur)
	a.cur = a.cur[n:]
	return n, nil
}

// Close stops the reading goroutine and waits for it.
func (a *asyncReader) Close() error {
	a.once.Do(func() { close(a.done) })
	a.wg.Wait()
	return nil
}
