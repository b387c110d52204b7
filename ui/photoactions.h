#pragma once

// Handing photos to other programs: drag data, copies into a folder. Shared by the search results
// and the library view.

#include <QString>
#include <QStringList>

class QMimeData;

namespace ts {

// Drag data for `paths`: text/uri-list with each file's exact bytes (fileUrl()) and the paths as
// plain text, one per line. Null when `paths` is empty. The caller (Qt's drag) owns it.
QMimeData *photoMimeData(const QStringList &paths);

// The paths for the clipboard: native separators, one per line.
QString pathsForClipboard(const QStringList &paths);

struct CopyOutcome {
    QStringList copied; // the new files, in the order of the sources
    QStringList errors; // one sentence per photo that was not copied, naming it
};

// Copies each photo into `folder`, never overwriting: a name already there (or copied before in
// this call) gets " (2)", " (3)", ... before its extension. The copy keeps the original's
// modification time (the date a photo without EXIF is listed under). A copy that fails (source
// gone, disk full, no permission) is removed, reported in `errors`, and the others go on.
// Any thread; blocking (run it off the GUI thread for more than a few photos).
CopyOutcome copyPhotosToFolder(const QStringList &paths, const QString &folder);

// The name a copy of `fileName` gets in `folder`: itself when free, else "base (N).ext" with the
// smallest free N >= 2. Any thread.
QString freeFileName(const QString &folder, const QString &fileName);

} // namespace ts
