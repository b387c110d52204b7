#!/usr/bin/env bash
# Fails when a heavy library's headers appear outside the one folder allowed to use them.
set -u
root="$1"
status=0
check() { # pattern, allowed path regex, description
    local hits
    hits=$(cd "$root" && grep -rnE --include='*.h' --include='*.cpp' "$1" core indexer ui app 2>/dev/null | grep -vE "^($2)" || true)
    if [ -n "$hits" ]; then
        echo "layering: $3 outside its home:"
        echo "$hits"
        status=1
    fi
}
check '#include *[<"](torch/|ATen/|c10/|caffe2/)' 'core/model/' 'LibTorch headers'
check '#include *[<"]faiss/' 'core/index/' 'FAISS headers'
check '#include *[<"](sqlite3\.h|libpq-fe\.h|QSql)' 'indexer/' 'SQLite/libpq/QtSql headers'
check '#include *[<"]indexer/sqldatabase\.h' 'indexer/' 'The SQL seam (indexer/sqldatabase.h)'
check '#include *[<"](QtWidgets|QWidget|QMainWindow|QApplication|QDialog)' 'ui/|app/gui/' 'Qt Widgets headers'
# core/hub (the Hub client) never links the model (LibTorch): it reads a checkpoint's config.json
# through the torch-free tscore_modelconfig only, and converting a pytorch_model.bin is a step the
# caller wires in. Neither its sources nor its CMake may reach further into core/model.
hits=$(cd "$root" && { grep -nE '#include *[<"]core/(model|search|index)/' core/hub/*.h core/hub/*.cpp |
    grep -vE '#include *"core/model/bridgetowerconfig\.h"'
    grep -nwE 'tscore_(model|search|index)' core/hub/CMakeLists.txt | sed 's|^|core/hub/CMakeLists.txt:|'; } || true)
if [ -n "$hits" ]; then
    echo "layering: core/hub depends on the model (only core/model/bridgetowerconfig.h and tscore_modelconfig are allowed):"
    echo "$hits"; status=1
fi
# Public headers of core/model must not leak torch types either.
hits=$(cd "$root" && grep -lE 'torch::|at::Tensor' core/model/*.h 2>/dev/null | grep -v '/internal/' || true)
if [ -n "$hits" ]; then
    echo "layering: torch types in public model headers (move them under core/model/internal/):"
    echo "$hits"; status=1
fi
[ $status -eq 0 ] && echo "layering: ok"
exit $status
