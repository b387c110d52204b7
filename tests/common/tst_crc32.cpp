// CRC-32 (core/common/crc32.h): the slice-by-8 implementation against the bitwise definition.
#include "core/common/crc32.h"

#include <QByteArray>
#include <QTest>

#include <random>

using namespace ts;

namespace {

// The CRC as the zip specification defines it, one bit at a time: slow, but obviously right.
uint32_t bitwiseCrc32(const QByteArray &data) {
    uint32_t c = 0xFFFFFFFFu;
    for (const char ch : data) {
        c ^= uint8_t(ch);
        for (int k = 0; k < 8; ++k)
            c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
    }
    return c ^ 0xFFFFFFFFu;
}

QByteArray randomBytes(qsizetype size, uint32_t seed) {
    std::mt19937 rng(seed);
    QByteArray b(size, Qt::Uninitialized);
    for (char &c : b)
        c = char(rng() & 0xff);
    return b;
}

} // namespace

class TestCrc32 : public QObject {
    Q_OBJECT
private Q_SLOTS:
    // The check value of the CRC catalogue ("CRC-32/ISO-HDLC") and of zlib's crc32().
    void matchesTheCatalogueCheckValue() {
        const QByteArray text("123456789");
        QCOMPARE(crc32(text.constData(), size_t(text.size())), 0xCBF43926u);
        QCOMPARE(crc32(text.constData(), 0), 0u);
    }

    // Every length around the 8-byte steps, at every alignment of the start.
    void matchesTheBitwiseDefinition_data() {
        QTest::addColumn<int>("size");
        QTest::addColumn<int>("offset");
        for (int size : {1, 7, 8, 9, 15, 16, 17, 63, 64, 65, 1000, 65537})
            for (int offset : {0, 1, 3, 7})
                QTest::addRow("%d bytes at +%d", size, offset) << size << offset;
    }
    void matchesTheBitwiseDefinition() {
        QFETCH(int, size);
        QFETCH(int, offset);
        const QByteArray buffer = randomBytes(size + offset, uint32_t(size * 31 + offset));
        const QByteArray data = buffer.mid(offset);
        QCOMPARE(crc32(buffer.constData() + offset, size_t(size)), bitwiseCrc32(data));
    }

    // A zip reader relies on this: any one flipped bit changes the CRC.
    void detectsEveryFlippedBit() {
        QByteArray data = randomBytes(256, 7);
        const uint32_t clean = crc32(data.constData(), size_t(data.size()));
        for (qsizetype i = 0; i < data.size(); ++i)
            for (int bit = 0; bit < 8; ++bit) {
                data[i] = char(data[i] ^ (1 << bit));
                QVERIFY2(crc32(data.constData(), size_t(data.size())) != clean,
                         qPrintable(QStringLiteral("byte %1 bit %2").arg(i).arg(bit)));
                data[i] = char(data[i] ^ (1 << bit));
            }
    }
};

int runCrc32Tests(int argc, char **argv) {
    TestCrc32 t;
    return QTest::qExec(&t, argc, argv);
}

#include "tst_crc32.moc"
