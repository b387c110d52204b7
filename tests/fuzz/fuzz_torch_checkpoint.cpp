// Fuzz target: torch.save zip checkpoints (pytorch_model.bin): our zip directory reader, LibTorch's
// record reader and the restricted unpickler (core/model/internal/torchzipcheckpoint). Every tensor
// handed out is walked element by element through its sizes and strides, reading its storage: a
// view that reaches outside its storage is an ASan report here.
//
// Two kinds of input: a whole file (starts with "PK\3\4"), or else a bare data.pkl, which is put
// into a valid archive here (version, byteorder, data.pkl and four 64-byte storage records
// data/0..data/3) so that mutations of the pickle are not all stopped by the zip's CRC-32.

#include "core/model/internal/torchzipcheckpoint.h"
#include "fuzzinput.h"

#include <ATen/core/Tensor.h>
#include <c10/core/Storage.h>
#include <c10/util/Logging.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

namespace {

volatile unsigned g_sink; // keeps the reads from being optimised away

void putLe(QByteArray &out, uint64_t v, int bytes) {
    for (int i = 0; i < bytes; ++i)
        out.append(char(uint8_t(v >> (8 * i))));
}

// A zip archive of stored (uncompressed) records, as torch.save writes them.
QByteArray storedZip(const std::vector<std::pair<QByteArray, QByteArray>> &records) {
    QByteArray zip, directory;
    for (const auto &[name, data] : records) {
        const uint32_t crc = ts::fuzz::crc32(data);
        const qsizetype offset = zip.size();
        putLe(zip, 0x04034b50, 4);
        putLe(zip, 20, 2); // version needed
        putLe(zip, 0, 2);  // flags
        putLe(zip, 0, 2);  // method: stored
        putLe(zip, 0, 4);  // time, date
        putLe(zip, crc, 4);
        putLe(zip, uint64_t(data.size()), 4);
        putLe(zip, uint64_t(data.size()), 4);
        putLe(zip, uint64_t(name.size()), 2);
        putLe(zip, 0, 2);
        zip += name + data;
        putLe(directory, 0x02014b50, 4);
        putLe(directory, 20, 2);
        putLe(directory, 20, 2);
        putLe(directory, 0, 2);
        putLe(directory, 0, 2);
        putLe(directory, 0, 4);
        putLe(directory, crc, 4);
        putLe(directory, uint64_t(data.size()), 4);
        putLe(directory, uint64_t(data.size()), 4);
        putLe(directory, uint64_t(name.size()), 2);
        putLe(directory, 0, 2 + 2 + 2 + 2); // extra, comment, disk, internal attributes
        putLe(directory, 0, 4);             // external attributes
        putLe(directory, uint64_t(offset), 4);
        directory += name;
    }
    const qsizetype directoryOffset = zip.size();
    zip += directory;
    putLe(zip, 0x06054b50, 4);
    putLe(zip, 0, 4);
    putLe(zip, records.size(), 2);
    putLe(zip, records.size(), 2);
    putLe(zip, uint64_t(directory.size()), 4);
    putLe(zip, uint64_t(directoryOffset), 4);
    putLe(zip, 0, 2);
    return zip;
}

QByteArray archiveAround(const uint8_t *pickle, size_t size) {
    std::vector<std::pair<QByteArray, QByteArray>> records{
        {"archive/data.pkl", QByteArray(reinterpret_cast<const char *>(pickle), qsizetype(size))},
        {"archive/byteorder", "little"}};
    for (int k = 0; k < 4; ++k) {
        QByteArray storage(64, '\0');
        for (int i = 0; i < 64; ++i)
            storage[i] = char(i * 7 + k);
        records.push_back({"archive/data/" + QByteArray::number(k), storage});
    }
    records.push_back({"archive/version", "3\n"});
    return storedZip(records);
}

// Reads element `index` (row-major over sizes) of `t` through its strides; returns one byte of it.
uint8_t readElement(const at::Tensor &t, int64_t index) {
    int64_t offset = t.storage_offset();
    for (int64_t d = t.dim() - 1; d >= 0; --d) {
        const int64_t size = t.size(d);
        offset += (index % size) * t.stride(d);
        index /= size;
    }
    const size_t elementSize = t.element_size();
    const size_t byte = size_t(offset) * elementSize;
    if (byte + elementSize > t.storage().nbytes())
        std::abort(); // the checkpoint reader let a tensor reach past its storage
    return static_cast<const uint8_t *>(t.storage().data())[byte + elementSize - 1];
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int *, char ***) {
    // Every c10::Error symbolizes a stack trace (milliseconds); the messages are all we need.
    c10::SetStackTraceFetcher([] { return std::string(); });
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const bool whole = size >= 4 && std::memcmp(data, "PK\3\4", 4) == 0;
    const QByteArray wrapped = whole ? QByteArray() : archiveAround(data, size);
    const ts::fuzz::MemoryFile file(whole ? data
                                          : reinterpret_cast<const uint8_t *>(wrapped.constData()),
                                    whole ? size : size_t(wrapped.size()));
    const auto read = ts::internal::readTorchZipCheckpoint(file.path());
    static const bool verbose = qEnvironmentVariableIsSet("TOWERSEARCH_FUZZ_VERBOSE");
    if (verbose)
        std::fprintf(stderr, "%s\n", read ? "read" : qPrintable(read.error().message));
    if (!read) {
        if (read.error().message.isEmpty())
            std::abort();
        return 0;
    }
    unsigned sum = 0;
    int64_t budget = 1 << 22; // elements walked per input, to keep one run fast
    for (const ts::internal::NamedTensor &nt : *read) {
        const at::Tensor &t = nt.tensor;
        if (nt.name.empty() || !t.defined())
            std::abort();
        const int64_t n = t.numel();
        // The first and last elements always, everything in between while the budget lasts.
        if (n > 0) {
            sum += readElement(t, 0) + readElement(t, n - 1);
            for (int64_t k = 1; k < n - 1 && budget > 0; ++k, --budget)
                sum += readElement(t, k);
        }
    }
    g_sink = sum;
    return 0;
}
