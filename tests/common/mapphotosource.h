#pragma once

#include "core/search/photosource.h"

#include <QDir>
#include <QFileInfo>

#include <algorithm>
#include <map>
#include <optional>
#include <vector>

namespace ts::test {

// A PhotoSource over an id -> path map, standing in for the catalog in search and UI tests.
// Filters are evaluated over the metadata a test gives per photo (`meta`), following the
// semantics documented in core/search/photofilter.h; a photo without an entry has no date, no
// type, no camera and no size. Set `evaluatesFilters` false to stand for a source that cannot.
class MapPhotoSource : public PhotoSource {
public:
    struct Meta {
        std::optional<qint64> takenMs;
        QString fileType; // canonical lower-case name ("jpeg", "png", ...)
        QString camera;   // "<make> <model>"
        int width = 0;    // as displayed
        int height = 0;
    };

    std::map<qint64, QString> paths;
    std::map<qint64, Meta> meta;
    bool evaluatesFilters = true;

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
    std::optional<std::vector<qint64>> photosMatching(const PhotoFilter &filter) const override {
        if (!evaluatesFilters)
            return std::nullopt;
        std::vector<qint64> out; // ascending: the map is ordered by id
        for (const auto &[id, path] : paths)
            if (keeps(filter, path, metaOf(id)))
                out.push_back(id);
        return out;
    }
    std::optional<qint64> photoTakenMs(qint64 id) const override { return metaOf(id).takenMs; }

private:
    Meta metaOf(qint64 id) const {
        const auto it = meta.find(id);
        return it == meta.end() ? Meta{} : it->second;
    }

    static bool keeps(const PhotoFilter &f, const QString &path, const Meta &m) {
        if (f.takenFromMs && (!m.takenMs || *m.takenMs < *f.takenFromMs))
            return false;
        if (f.takenBeforeMs && (!m.takenMs || *m.takenMs >= *f.takenBeforeMs))
            return false;
        if (!f.folders.isEmpty()) {
            const QString clean = QDir::cleanPath(path);
            bool inside = false;
            for (const QString &folder : f.folders)
                inside = inside || clean.startsWith(QDir::cleanPath(folder) + QLatin1Char('/'));
            if (!inside)
                return false;
        }
        if (!f.fileTypes.isEmpty() && !f.fileTypes.contains(m.fileType))
            return false;
        if (!f.cameras.isEmpty()) {
            bool any = false;
            for (const QString &camera : f.cameras)
                any =
                    any || (!m.camera.isEmpty() && m.camera.contains(camera, Qt::CaseInsensitive));
            if (!any)
                return false;
        }
        const int longSide = std::max(m.width, m.height), shortSide = std::min(m.width, m.height);
        switch (f.shape) {
        case PhotoShape::Any:
            break;
        case PhotoShape::Portrait:
            if (!(m.height > m.width))
                return false;
            break;
        case PhotoShape::Landscape:
            if (!(m.width > m.height))
                return false;
            break;
        case PhotoShape::Square:
            if (m.width != m.height || m.width == 0)
                return false;
            break;
        }
        return longSide >= f.minLongSide && shortSide >= f.minShortSide;
    }
};

} // namespace ts::test
