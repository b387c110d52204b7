#pragma once

#include <QString>
#include <QtGlobal>

#include <optional>
#include <vector>

namespace ts {

// One photo in a result list.
struct PhotoHit {
    qint64 photoId = 0;
    QString path;
    float similarity = 0;                  // contrastive cosine similarity to the query (-1..1)
    std::optional<float> matchProbability; // ITM match probability, once reranked
};

// Orders hits for display: reranked ones by match probability, then the rest by similarity; with a
// cut-off, drops reranked hits below it and every hit that was not reranked.
std::vector<PhotoHit> orderForDisplay(std::vector<PhotoHit> hits, float minMatchProbability);

} // namespace ts
