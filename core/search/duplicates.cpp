#include "core/search/duplicates.h"

#include <algorithm>
#include <queue>
#include <tuple>
#include <unordered_map>
#include <unordered_set>

namespace ts {

namespace {

struct Neighbour {
    qint64 id;
    float score;
};

// A candidate representative: how many ungrouped neighbours it had, and their summed similarity,
// when it was queued. Both only fall as photos get grouped, so a queued entry is an upper bound
// and a popped entry that is still current is the true best (a lazy max-heap).
struct Candidate {
    qint64 count;
    double sum;
    qint64 id;
    bool operator<(const Candidate &o) const {
        // std::priority_queue pops the largest: more neighbours, larger sum, then smaller id.
        return std::tie(count, sum, o.id) < std::tie(o.count, o.sum, id);
    }
};

} // namespace

std::vector<DuplicateGroup> groupSimilarPairs(const std::vector<SimilarPair> &pairs) {
    std::unordered_map<qint64, std::vector<Neighbour>> neighbours;
    for (const SimilarPair &p : pairs) {
        if (p.first == p.second)
            continue;
        neighbours[p.first].push_back({p.second, p.score});
        neighbours[p.second].push_back({p.first, p.score});
    }
    std::unordered_set<qint64> grouped;
    auto current = [&](qint64 id) {
        Candidate c{0, 0.0, id};
        for (const Neighbour &n : neighbours[id])
            if (!grouped.count(n.id)) {
                ++c.count;
                c.sum += double(n.score);
            }
        return c;
    };
    std::priority_queue<Candidate> queue;
    for (const auto &[id, list] : neighbours)
        queue.push(current(id));

    std::vector<DuplicateGroup> groups;
    while (!queue.empty()) {
        const Candidate top = queue.top();
        queue.pop();
        if (grouped.count(top.id))
            continue;
        const Candidate now = current(top.id);
        if (now.count == 0)
            continue;
        if (now.count != top.count || now.sum != top.sum) {
            queue.push(now); // stale: some neighbours were grouped meanwhile
            continue;
        }
        std::vector<Neighbour> members;
        for (const Neighbour &n : neighbours[top.id])
            if (!grouped.count(n.id))
                members.push_back(n);
        std::sort(members.begin(), members.end(), [](const Neighbour &a, const Neighbour &b) {
            return a.score != b.score ? a.score > b.score : a.id < b.id;
        });
        DuplicateGroup g;
        g.ids.push_back(top.id);
        g.scores.push_back(1.0f);
        grouped.insert(top.id);
        for (const Neighbour &n : members) {
            g.ids.push_back(n.id);
            g.scores.push_back(n.score);
            grouped.insert(n.id);
        }
        groups.push_back(std::move(g));
    }
    std::sort(groups.begin(), groups.end(), [](const DuplicateGroup &a, const DuplicateGroup &b) {
        if (a.ids.size() != b.ids.size())
            return a.ids.size() > b.ids.size();
        if (a.scores[1] != b.scores[1])
            return a.scores[1] > b.scores[1];
        return a.ids.front() < b.ids.front();
    });
    return groups;
}

Result<std::vector<DuplicateGroup>> findDuplicateGroups(const VectorIndex &index, float threshold,
                                                        const ScanProgress &progress) {
    auto pairs = index.similarPairs(threshold, progress, kDuplicateScanNprobe);
    if (!pairs)
        return pairs.error();
    return groupSimilarPairs(*pairs);
}

} // namespace ts
