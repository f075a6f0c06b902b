// libarchive (Debian's libarchive-dev): the tar reader and gzip/zstd decompressors of image
// layers. AEGIS uses only its read side; every file is written by AegisImage beneath the rootfs.
#include <archive.h>
#include <archive_entry.h>
