#pragma once

// Internal to core/index: checks the FAISS part of a saved VectorIndex before FAISS reads it.
//
// faiss::read_index trusts its input: it recurses once per nested index (a file of 200,000 nested
// IndexIDMap2 headers overflows the stack), resizes vectors to any size a file names (up to 2^40
// elements, zero-filled) before reading them, and indexes inverted lists by unchecked list numbers.
// We only ever write two shapes, so only those are accepted, every count checked against the bytes
// that remain and the whole payload consumed exactly:
//   Flat: IndexIDMap2 "IxM2" { IndexFlatIP "IxFI" { count x dimension floats }, count ids }
//   Ivf:  IndexIVFFlat "IwFl" { nlist, nprobe, IndexFlatIP quantizer with nlist centroids,
//         hashtable direct map of count entries, ArrayInvertedLists "ilar" ("full" or "sprs"
//         sizes summing to count, then each list's vectors and ids) }
// Layout as FAISS 1.7.3 writes it (faiss/impl/index_write.cpp; little-endian, sizes as u64).

#include "core/common/result.h"
#include "core/index/indexfileformat.h"

#include <QtGlobal>

namespace ts::indexfile {

// Succeeds when `payload` has exactly the shape of `kind` for `dimension` and `count` vectors.
// The error says what is wrong and at which byte of the payload. Pure function; thread-safe.
Status checkFaissPayload(const uchar *payload, quint64 size, Kind kind, quint32 dimension,
                         qint64 count);

} // namespace ts::indexfile
