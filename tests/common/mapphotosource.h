#pragma once

#include "core/search/photosource.h"

#include <QFileInfo>

#include <map>
#include <optional>

namespace ts::test {

// A PhotoSource over an id -> path map, standing in for the catalog in search and UI tests.
class MapPhotoSource : public PhotoSource {
public:
    std::map<qint64, QString> paths;

    QString photoPath(qint64 id) const override {
        auto it = paths.find(id);
        return it == paths.end() ? QString() : it->second;
    }
    QString photoStamp(qint64 id) const override {
        const QFileInfo fi(photoPath(id));
        return QStringLiteral("%1-%2").arg(fi.size()).arg(fi.lastModified().toMSecsSinceEpoch());
    }
    std::optional<qint64> photoIdForPath(const QString &path) const override {
        for (const auto &[id, p] : paths)
            if (QFileInfo(p).canonicalFilePath() == QFileInfo(path).canonicalFilePath())
                return id;
        return std::nullopt;
    }
};

} // namespace ts::test
