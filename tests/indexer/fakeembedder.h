#pragma once

// A model-free ImageEmbedder for indexer tests: decodes like the real one (so bad files fail the
// same way) and derives a deterministic vector from the file's bytes. Optionally slows each batch
// down and appends every embedded path to a log file (how tests count what was re-embedded).
#include "indexer/imageembedder.h"

#include <QCryptographicHash>
#include <QFile>
#include <QHash>
#include <QThread>

#include <atomic>
#include <cmath>
#include <functional>
#include <mutex>

namespace ts::test {

class FakeEmbedder : public ImageEmbedder {
public:
    explicit FakeEmbedder(QString key = QStringLiteral("fake-model-1"), int dimension = 8)
        : m_key(std::move(key)), m_dimension(dimension) {}

    QString modelKey() const override { return m_key; }
    int dimension() const override { return m_dimension; }

    Result<PreparedImage> prepare(const QString &path, const QByteArray &contents) const override {
        if (onPrepare)
            onPrepare(path);
        PreparedImage out;
        auto rgb = decodeForIndexing(path, contents, 64, out);
        if (!rgb)
            return rgb.error();
        const QByteArray digest =
            QCryptographicHash::hash(contents + m_key.toUtf8(), QCryptographicHash::Sha256);
        out.pixels = FloatTensor({m_dimension});
        double norm = 0;
        for (int i = 0; i < m_dimension; ++i) {
            const float v =
                (float(quint8(digest[i % digest.size()])) - 127.5f) / 128.0f + 0.01f * float(i + 1);
            out.pixels.data[size_t(i)] = v;
            norm += double(v) * v;
        }
        for (float &v : out.pixels.data)
            v = float(v / std::sqrt(norm));
        // The path travels with the pixels so embed() can log it.
        std::lock_guard lock(m_mutex);
        m_pathOf[out.pixels.data[0]] = path;
        return out;
    }

    Result<EmbeddedBatch> embed(const std::vector<const FloatTensor *> &pixels) override {
        if (delayMs > 0)
            QThread::msleep(ulong(delayMs));
        EmbeddedBatch out;
        QByteArray log;
        for (const FloatTensor *p : pixels) {
            out.vectors.push_back(p->data);
            std::lock_guard lock(m_mutex);
            log += m_pathOf.value(p->data[0]).toUtf8() + '\n';
        }
        calls += int(pixels.size());
        if (!logFile.isEmpty()) {
            QFile f(logFile);
            if (f.open(QIODevice::Append)) {
                f.write(log);
                f.flush();
            }
        }
        return out;
    }

    int delayMs = 0;
    QString logFile;
    std::atomic<int> calls{0};
    std::function<void(const QString &)> onPrepare;

private:
    QString m_key;
    int m_dimension;
    mutable std::mutex m_mutex;
    mutable QHash<float, QString> m_pathOf;
};

} // namespace ts::test
