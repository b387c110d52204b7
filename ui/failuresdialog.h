#pragma once

#include "indexer/libraryrecords.h"

#include <QDialog>

class QTreeWidget;

namespace ts {

// The photos that could not be indexed, each with the error that says why.
class FailuresDialog : public QDialog {
    Q_OBJECT
public:
    explicit FailuresDialog(const QList<PhotoRecord> &failures, QWidget *parent = nullptr);
    QTreeWidget *list() const { return m_list; }

private:
    QTreeWidget *m_list;
};

} // namespace ts
