# Generates tests/data/model/position-ids/pytorch_model.bin (python3-torch 1.13.1, Debian 12).
# Older transformers saved position_ids as persistent buffers, torch.arange(N).expand((1, -1)):
# shape [1, N] over an N-element int64 storage. torch 1.13 gives that view stride [N, 1]; other
# torch versions give the size-1 dimension stride 0 ([0, 1]), made here with as_strided.
import collections
import torch

torch.manual_seed(0)
sd = collections.OrderedDict()
sd["bridgetower.text_model.embeddings.position_ids"] = torch.arange(40).expand((1, -1))
sd["bridgetower.vision_model.visual.embeddings.position_ids"] = torch.arange(17).as_strided((1, 17), (0, 1))
sd["weight"] = torch.randn(3, 4)
for k, v in sd.items():
    print(k, list(v.shape), v.stride(), v.dtype, v.storage().size())
torch.save(sd, "pytorch_model.bin")
