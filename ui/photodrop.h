#pragma once

#include <QString>
#include <QStringList>
#include <QTemporaryDir>

class QMimeData;

namespace ts {

// What a drop (or a paste) onto the window holds for TowerSearch: folders to add, and the photo to
// search with: the first local image file, else image data (from a browser or an image editor)
// saved as a PNG in a temporary folder of this object's, so the engine can read it as a file.
// Image data is looked at only when the drop holds neither an image file nor a folder.
// GUI thread; the saved files live as long as this object.
class PhotoDrop {
public:
    struct Contents {
        QStringList folders; // absolute paths, in the drop's order
        QString photo;       // absolute path; empty: none
        bool isEmpty() const { return folders.isEmpty() && photo.isEmpty(); }
    };

    // Whether the data may hold something read() uses (checked while dragging: cheap, no decode).
    static bool canHandle(const QMimeData *mime);
    // The folders and the photo; empty when there is nothing usable (null mime included).
    Contents read(const QMimeData *mime);

private:
    QTemporaryDir m_dir;
    int m_saved = 0;
};

} // namespace ts
