#pragma once

// Generated photo folders for indexer tests and the benchmark.
#include "core/common/crc32.h"

#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QImage>
#include <QRandomGenerator>
#include <QString>
#include <QtEndian>

// Undoes schema migration 7 (the worker queue), either backend: first of the undo scripts.
#define TS_UNDO_WORKERS "DROP TABLE index_jobs; DROP TABLE queue_state; DROP TABLE workers;"
// Undoes schema migration 6 (library roots and thumbnails), either backend: put it before the
// undo of migration 5 (migrations are undone in reverse order).
#define TS_UNDO_ROOTS "DROP TABLE thumbnails; DROP TABLE library_roots;"
// Undoes schema migration 5 (the change sequence) on a SQLite catalog, for tests that turn a
// catalog back into what an older version wrote.
#define TS_UNDO_CHANGE_SEQUENCE                                                                    \
    "DROP TRIGGER embeddings_insert_seq; DROP TRIGGER embeddings_update_seq;"                      \
    " DROP TRIGGER embeddings_delete_seq; DROP TRIGGER photos_owner_seq;"                          \
    " DROP TABLE embedding_removals; DROP TABLE change_counter; DROP INDEX embeddings_change;"     \
    " ALTER TABLE embeddings DROP COLUMN change_seq; DELETE FROM meta WHERE key = 'catalog_id';"
// The same on a PostgreSQL catalog.
#define TS_UNDO_CHANGE_SEQUENCE_PG                                                                 \
    "DROP TRIGGER embeddings_write_seq ON embeddings; DROP TRIGGER embeddings_delete_seq ON"       \
    " embeddings; DROP TRIGGER photos_owner_seq ON photos; DROP FUNCTION ts_embeddings_change();"  \
    " DROP FUNCTION ts_photos_owner_change(); DROP FUNCTION ts_next_change_seq();"                 \
    " DROP TABLE embedding_removals; DROP TABLE change_counter;"                                   \
    " ALTER TABLE embeddings DROP COLUMN change_seq; DELETE FROM meta WHERE key = 'catalog_id';"

namespace ts::test {

// A small distinct photo (PNG, or JPEG when the name ends in .jpg), different for every seed.
inline bool writePhoto(const QString &path, quint32 seed, int width = 48, int height = 32) {
    QDir().mkpath(QFileInfo(path).absolutePath());
    QImage image(width, height, QImage::Format_RGB888);
    QRandomGenerator rng(seed);
    image.fill(
        QColor::fromRgb(int(rng.bounded(256)), int(rng.bounded(256)), int(rng.bounded(256))));
    for (int i = 0; i < 24; ++i)
        image.setPixelColor(
            int(rng.bounded(width)), int(rng.bounded(height)),
            QColor::fromRgb(int(rng.bounded(256)), int(rng.bounded(256)), int(rng.bounded(256))));
    const bool jpeg = path.endsWith(QLatin1String(".jpg"));
    return image.save(path, jpeg ? "JPEG" : "PNG", jpeg ? 90 : -1);
}

inline quint32 crc32(const QByteArray &data) {
    return ts::crc32(data.constData(), size_t(data.size()));
}

// A PNG whose header claims width x height (no pixel data worth the name): a decompression bomb.
inline bool writePngHeaderOnly(const QString &path, quint32 width, quint32 height) {
    QByteArray png("\x89PNG\r\n\x1a\n", 8);
    QByteArray ihdr("IHDR");
    char be[4];
    qToBigEndian(width, be);
    ihdr.append(be, 4);
    qToBigEndian(height, be);
    ihdr.append(be, 4);
    ihdr.append("\x08\x02\x00\x00\x00", 5);
    qToBigEndian(quint32(13), be);
    png.append(be, 4);
    png.append(ihdr);
    qToBigEndian(crc32(ihdr), be);
    png.append(be, 4);
    QFile f(path);
    return f.open(QIODevice::WriteOnly) && f.write(png) == png.size();
}

// Inserts an EXIF APP1 segment with DateTimeOriginal = `date` ("YYYY:MM:DD HH:MM:SS") into a JPEG.
inline bool addExifDate(const QString &jpegPath, const QByteArray &date) {
    QFile f(jpegPath);
    if (!f.open(QIODevice::ReadOnly))
        return false;
    QByteArray jpeg = f.readAll();
    f.close();
    QByteArray tiff("II\x2a\x00\x08\x00\x00\x00", 8);
    auto u16 = [&](quint16 v) {
        char b[2];
        qToLittleEndian(v, b);
        tiff.append(b, 2);
    };
    auto u32 = [&](quint32 v) {
        char b[4];
        qToLittleEndian(v, b);
        tiff.append(b, 4);
    };
    u16(1);
    u16(0x8769);
    u16(4);
    u32(1);
    u32(26);
    u32(0); // IFD0 -> Exif IFD at 26
    u16(1);
    u16(0x9003);
    u16(2);
    u32(20);
    u32(44);
    u32(0); // DateTimeOriginal at 44
    tiff.append(date.left(19)).append('\0');
    QByteArray app1("\xff\xe1", 2);
    char len[2];
    qToBigEndian(quint16(2 + 6 + tiff.size()), len);
    app1.append(len, 2).append(QByteArray("Exif\0\0", 6)).append(tiff);
    jpeg.insert(2, app1);
    return f.open(QIODevice::WriteOnly | QIODevice::Truncate) && f.write(jpeg) == jpeg.size();
}

} // namespace ts::test
