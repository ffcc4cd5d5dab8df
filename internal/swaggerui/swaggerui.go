// Package swaggerui serves Swagger UI's assets to gin-swagger from
// swaggo/files/v2's embedded files, read-only, for the hub (api) and for
// cmd/dep-floor, which must serve them as the hub does without linking it.
package swaggerui

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path"

	swaggerFiles "github.com/swaggo/files/v2"
	"golang.org/x/net/webdav"
)

// Handler is the file handler gin-swagger serves Swagger UI's assets
// with, read straight from swaggo/files/v2's embedded files. gin-swagger's
// usual companion, swaggo/files v1, copies its 9 MB of assets into an
// in-memory file system at init: about 18 MB of RSS in every hub (the copy
// and the pages it was read from), for a page few people open.
func Handler() *webdav.Handler {
	return &webdav.Handler{FileSystem: readOnlyFS{swaggerFiles.FS}, LockSystem: webdav.NewMemLS()}
}

// errReadOnly answers every attempt to change Swagger UI's files.
var errReadOnly = errors.New("swagger ui files are read-only")

// readOnlyFS serves an fs.FS through webdav.FileSystem, gin-swagger's
// interface.
type readOnlyFS struct{ fsys fs.FS }

func (r readOnlyFS) OpenFile(_ context.Context, name string, flag int, _ os.FileMode) (webdav.File, error) {
	if flag&(os.O_WRONLY|os.O_RDWR|os.O_CREATE|os.O_TRUNC|os.O_APPEND) != 0 {
		return nil, errReadOnly
	}
	f, err := r.fsys.Open(fsName(name))
	if err != nil {
		return nil, err
	}
	return readOnlyFile{f}, nil
}

func (r readOnlyFS) Stat(_ context.Context, name string) (os.FileInfo, error) {
	return fs.Stat(r.fsys, fsName(name))
}

func (readOnlyFS) Mkdir(context.Context, string, os.FileMode) error { return errReadOnly }
func (readOnlyFS) RemoveAll(context.Context, string) error          { return errReadOnly }
func (readOnlyFS) Rename(context.Context, string, string) error     { return errReadOnly }

// fsName turns webdav's slash-rooted name into an fs.FS name.
func fsName(name string) string {
	name = path.Clean("/" + name)[1:]
	if name == "" {
		return "."
	}
	return name
}

// readOnlyFile is an embedded file as a webdav.File: embed's files seek;
// listing directories and writing are refused.
type readOnlyFile struct{ fs.File }

func (f readOnlyFile) Seek(offset int64, whence int) (int64, error) {
	if s, ok := f.File.(io.Seeker); ok {
		return s.Seek(offset, whence)
	}
	return 0, errors.ErrUnsupported
}

func (readOnlyFile) Readdir(int) ([]fs.FileInfo, error) { return nil, errors.ErrUnsupported }
func (readOnlyFile) Write([]byte) (int, error)          { return 0, errReadOnly }
