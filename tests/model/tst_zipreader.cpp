// The zip central-directory reader (core/model/internal/zipreader.h) on archives built here byte by
// byte (classic and zip64 layouts, and corruptions of both) and on one written by LibTorch.
#include "core/common/crc32.h"
#include "core/model/internal/zipreader.h"
#include "torchsavewriter.h"

#include <QFile>
#include <QTemporaryDir>
#include <QTest>

using namespace ts;
using ts::internal::readZipDirectory;
using ts::internal::ZipDirectory;
using ts::internal::ZipEntry;

namespace {

void put16(QByteArray &b, uint32_t v) {
    b.append(char(v & 0xff)).append(char((v >> 8) & 0xff));
}
void put32(QByteArray &b, uint32_t v) {
    put16(b, v & 0xffff);
    put16(b, v >> 16);
}
void put64(QByteArray &b, uint64_t v) {
    put32(b, uint32_t(v));
    put32(b, uint32_t(v >> 32));
}

struct Member {
    std::string name;
    QByteArray data;
};

// A zip of stored members as the specification lays it out: local headers and data, the central
// directory, (zip64: its end record and locator,) the end record. With `zip64`, the 32-bit sizes
// and offsets are 0xFFFFFFFF and the real ones sit in each entry's 0x0001 extra field.
QByteArray buildZip(const std::vector<Member> &members, bool zip64) {
    QByteArray zip, directory;
    for (const Member &m : members) {
        const uint64_t offset = uint64_t(zip.size());
        const uint32_t crc = crc32(m.data.constData(), size_t(m.data.size()));
        put32(zip, 0x04034b50u);
        put16(zip, 20), put16(zip, 0), put16(zip, 0), put32(zip, 0);
        put32(zip, crc), put32(zip, uint32_t(m.data.size())), put32(zip, uint32_t(m.data.size()));
        put16(zip, uint32_t(m.name.size())), put16(zip, 0);
        zip.append(m.name.data(), qsizetype(m.name.size())).append(m.data);

        QByteArray extra;
        if (zip64) {
            put16(extra, 0x0001), put16(extra, 24);
            put64(extra, uint64_t(m.data.size())), put64(extra, uint64_t(m.data.size()));
            put64(extra, offset);
        }
        const uint32_t size32 = zip64 ? 0xFFFFFFFFu : uint32_t(m.data.size());
        put32(directory, 0x02014b50u);
        put16(directory, 45), put16(directory, 45), put16(directory, 0), put16(directory, 0);
        put32(directory, 0), put32(directory, crc), put32(directory, size32);
        put32(directory, size32);
        put16(directory, uint32_t(m.name.size())), put16(directory, uint32_t(extra.size()));
        put16(directory, 0), put16(directory, 0), put16(directory, 0), put32(directory, 0);
        put32(directory, zip64 ? 0xFFFFFFFFu : uint32_t(offset));
        directory.append(m.name.data(), qsizetype(m.name.size())).append(extra);
    }
    const uint64_t directoryOffset = uint64_t(zip.size());
    zip.append(directory);
    const uint64_t count = members.size();
    if (zip64) {
        const uint64_t recordOffset = uint64_t(zip.size());
        put32(zip, 0x06064b50u), put64(zip, 44), put16(zip, 45), put16(zip, 45);
        put32(zip, 0), put32(zip, 0), put64(zip, count), put64(zip, count);
        put64(zip, uint64_t(directory.size())), put64(zip, directoryOffset);
        put32(zip, 0x07064b50u), put32(zip, 0), put64(zip, recordOffset), put32(zip, 1);
    }
    put32(zip, 0x06054b50u), put16(zip, 0), put16(zip, 0);
    put16(zip, zip64 ? 0xFFFF : uint32_t(count)), put16(zip, zip64 ? 0xFFFF : uint32_t(count));
    put32(zip, zip64 ? 0xFFFFFFFFu : uint32_t(directory.size()));
    put32(zip, zip64 ? 0xFFFFFFFFu : uint32_t(directoryOffset));
    put16(zip, 0);
    return zip;
}

std::vector<Member> sampleMembers() {
    return {{"archive/data.pkl", QByteArray("not really a pickle")},
            {"archive/data/0", QByteArray(100, '\x07')},
            {"archive/empty", QByteArray()}};
}

Result<ZipDirectory> readBytes(const QByteArray &bytes) {
    static QTemporaryDir dir;
    const QString path = dir.filePath(QStringLiteral("test.zip"));
    QFile out(path);
    if (!out.open(QIODevice::WriteOnly | QIODevice::Truncate) || out.write(bytes) != bytes.size())
        return Error(Error::Code::Io, QStringLiteral("cannot write %1").arg(path));
    out.close();
    QFile in(path);
    if (!in.open(QIODevice::ReadOnly))
        return Error(Error::Code::Io, QStringLiteral("cannot open %1").arg(path));
    return readZipDirectory(in);
}

// Overwrites 4 bytes little-endian at `at`.
void patch32(QByteArray &b, qsizetype at, uint32_t v) {
    for (int i = 0; i < 4; ++i)
        b[at + i] = char(v >> (8 * i));
}

} // namespace

class TestZipReader : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void readsEveryEntryWithItsSizeCrcAndData_data() {
        QTest::addColumn<bool>("zip64");
        QTest::newRow("classic") << false;
        QTest::newRow("zip64 extra fields and end record") << true;
    }
    void readsEveryEntryWithItsSizeCrcAndData() {
        QFETCH(bool, zip64);
        const std::vector<Member> members = sampleMembers();
        const QByteArray zip = buildZip(members, zip64);
        const Result<ZipDirectory> dir = readBytes(zip);
        QVERIFY2(dir.ok(), dir.ok() ? "" : qPrintable(dir.error().message));
        QCOMPARE(dir->prefix, std::string("archive/"));
        QCOMPARE(dir->entries.size(), members.size());
        for (const Member &m : members) {
            const ZipEntry *e = dir->find(m.name.substr(std::string("archive/").size()));
            QVERIFY2(e, m.name.c_str());
            QCOMPARE(e->method, uint16_t(0));
            QCOMPARE(e->size, uint64_t(m.data.size()));
            QCOMPARE(e->compressedSize, uint64_t(m.data.size()));
            QCOMPARE(e->crc, crc32(m.data.constData(), size_t(m.data.size())));
            QCOMPARE(zip.mid(qsizetype(e->dataOffset), m.data.size()), m.data);
        }
        QVERIFY(!dir->find("missing"));
    }

    // What LibTorch's writer produces (aligned records, a "version" record): data where the
    // directory says, prefix = the archive folder.
    void readsAnArchiveWrittenByLibTorch() {
        QTemporaryDir tmp;
        const QString path = tmp.filePath(QStringLiteral("model.bin"));
        const QByteArray pickle("pickle bytes"), storage(4096, '\x2a');
        test::writeTorchZip(path.toStdString(),
                            {{"data.pkl", pickle.constData(), size_t(pickle.size())},
                             {"data/0", storage.constData(), size_t(storage.size())}});
        QFile file(path);
        QVERIFY(file.open(QIODevice::ReadOnly));
        const QByteArray bytes = file.readAll();
        const Result<ZipDirectory> dir = readZipDirectory(file);
        QVERIFY2(dir.ok(), dir.ok() ? "" : qPrintable(dir.error().message));
        QCOMPARE(dir->prefix, std::string("model/"));
        for (const auto &[name, data] : {std::pair{"data.pkl", pickle}, {"data/0", storage}}) {
            const ZipEntry *e = dir->find(name);
            QVERIFY2(e, name);
            QCOMPARE(e->size, uint64_t(data.size()));
            QCOMPARE(e->crc, crc32(data.constData(), size_t(data.size())));
            QCOMPARE(bytes.mid(qsizetype(e->dataOffset), data.size()), data);
        }
    }

    void rejectsCorruptArchives_data() {
        QTest::addColumn<QByteArray>("zip");
        QTest::addColumn<QString>("expected");
        const QByteArray good = buildZip(sampleMembers(), false);
        const QByteArray good64 = buildZip(sampleMembers(), true);
        const qsizetype end = good.size() - 22; // the end record
        QTest::newRow("empty file") << QByteArray() << "zip directory is missing";
        QTest::newRow("not a zip") << QByteArray(100, 'x') << "zip directory is missing";
        QTest::newRow("truncated before the end record")
            << good.left(good.size() - 10) << "zip directory is missing";
        {
            QByteArray z = good;
            patch32(z, end + 16, uint32_t(good.size())); // directory offset past the end
            QTest::newRow("directory outside the file") << z << "does not fit";
        }
        {
            QByteArray z = good;
            patch32(z, end + 16, 0); // directory offset at a local header
            QTest::newRow("directory offset at a local header") << z << "entry 0 is corrupt";
        }
        {
            QByteArray z = good;
            const qsizetype entry = z.indexOf(QByteArray("PK\x01\x02", 4));
            patch32(z, entry + 24, 99); // stored, but the sizes differ
            QTest::newRow("stored entry with two sizes") << z << "inconsistent sizes";
        }
        {
            QByteArray z = good;
            const qsizetype entry = z.indexOf(QByteArray("PK\x01\x02", 4));
            patch32(z, entry + 42, 5); // local header offset into the first record's header
            QTest::newRow("entry pointing at no local header") << z << "no local header";
        }
        {
            QByteArray z = good;
            QVERIFY(test::pointEntryAt(z, "data/0", "data.pkl"));
            QTest::newRow("two entries sharing bytes") << z << "overlap";
        }
        {
            QByteArray z = good64;
            const qsizetype locator = z.size() - 22 - 20;
            patch32(z, locator + 8, uint32_t(z.size() - 10)); // zip64 record past the end
            QTest::newRow("zip64 record outside the file") << z << "zip64 directory record";
        }
        {
            QByteArray z = good64;
            const qsizetype record = z.size() - 22 - 20 - 56;
            patch32(z, record, 0x12345678u);
            QTest::newRow("zip64 record without its signature") << z << "zip64 directory record";
        }
    }
    void rejectsCorruptArchives() {
        QFETCH(QByteArray, zip);
        QFETCH(QString, expected);
        const Result<ZipDirectory> dir = readBytes(zip);
        QVERIFY(!dir.ok());
        QCOMPARE(dir.error().code, Error::Code::Format);
        QVERIFY2(dir.error().message.contains(expected), qPrintable(dir.error().message));
    }
};

QTEST_GUILESS_MAIN(TestZipReader)
#include "tst_zipreader.moc"
