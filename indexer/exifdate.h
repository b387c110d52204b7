#pragma once

#include <QByteArray>
#include <QDateTime>

#include <optional>

namespace ts {

// EXIF DateTimeOriginal (tag 0x9003, else DateTime 0x0132 of IFD0) from the start of a JPEG file
// (its APP1 "Exif" segment) or a TIFF-structured file, as local time. Pure, bounded: malformed
// input gives nullopt, never a read outside `head`.
std::optional<QDateTime> exifDateTaken(const QByteArray &head);

} // namespace ts
