"""A LLaDA-architecture masked-diffusion transformer in plain PyTorch, and its export to the real
LLaDA checkpoint layout (config.json + model.safetensors) that the C++ engine loads as-is.

Architecture (as modeling_llada.py with block_type "llama"): token embedding, n blocks of
  x = x + attn_out(SDPA(rope(q_proj(n1)), rope(k_proj(n1)), v_proj(n1)))   n1 = attn_norm(x)
  x = x + ff_out(silu(ff_proj(n2)) * up_proj(n2))                           n2 = ff_norm(x)
then ln_f and an untied LM head (ff_out). RMSNorm, rotate-half RoPE, bidirectional attention
(no causal mask), no biases. Module names mirror the Hugging Face tensor names, so the export
is "model." + state_dict key.
"""

import dataclasses
import json
import math
import os

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclasses.dataclass
class ModelArgs:
    vocab_size: int = 3072
    d_model: int = 384
    n_layers: int = 8
    n_heads: int = 6
    mlp_hidden: int = 1024
    rope_theta: float = 1_000_000.0
    rms_eps: float = 1e-5
    max_seq_len: int = 4096
    mask_id: int = 3061
    eos_id: int = 3056
    bos_id: int = 3057
    eot_id: int = 3058

    @property
    def head_dim(self):
        return self.d_model // self.n_heads


class RMSNorm(nn.Module):
    def __init__(self, dim, eps):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        xf = x.float()
        xf = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)
        return (xf * self.weight.float()).to(x.dtype)


def rope_cos_sin(positions, head_dim, theta):
    """cos, sin of shape [L, head_dim/2] in float32 (angle = position * inv_freq, as LLaDA)."""
    inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.float64,
                                             device=positions.device) / head_dim))
    angles = positions.float()[:, None] * inv_freq.float()[None, :]
    return angles.cos(), angles.sin()


def apply_rope(x, cos, sin):
    """Rotate-half RoPE on x [B, H, L, D]; computed in float32, returned in x's dtype."""
    half = x.shape[-1] // 2
    xf = x.float()
    x1, x2 = xf[..., :half], xf[..., half:]
    out = torch.cat((x1 * cos - x2 * sin, x2 * cos + x1 * sin), dim=-1)
    return out.type_as(x)


def attention(q, k, v, key_mask, causal):
    """softmax(q k^T / sqrt(D) + mask) v; SDPA where torch has it (2.x), else the same in plain
    ops (torch 1.13, CPU debugging)."""
    if hasattr(F, "scaled_dot_product_attention"):
        return F.scaled_dot_product_attention(q, k, v, attn_mask=key_mask, is_causal=causal)
    scores = (q.float() @ k.float().transpose(-1, -2)) / math.sqrt(q.shape[-1])
    if key_mask is not None:
        scores = scores.masked_fill(~key_mask, float("-inf"))
    if causal:
        n = q.shape[-2]
        upper = torch.ones(n, n, dtype=torch.bool, device=q.device).triu(1)
        scores = scores.masked_fill(upper, float("-inf"))
    return (scores.softmax(-1) @ v.float()).to(q.dtype)


class Block(nn.Module):
    def __init__(self, a: ModelArgs):
        super().__init__()
        d = a.d_model
        self.n_heads = a.n_heads
        self.attn_norm = RMSNorm(d, a.rms_eps)
        self.ff_norm = RMSNorm(d, a.rms_eps)
        self.q_proj = nn.Linear(d, d, bias=False)
        self.k_proj = nn.Linear(d, d, bias=False)
        self.v_proj = nn.Linear(d, d, bias=False)
        self.attn_out = nn.Linear(d, d, bias=False)
        self.ff_proj = nn.Linear(d, a.mlp_hidden, bias=False)  # gate
        self.up_proj = nn.Linear(d, a.mlp_hidden, bias=False)
        self.ff_out = nn.Linear(a.mlp_hidden, d, bias=False)  # down

    def forward(self, x, cos, sin, key_mask, causal):
        b, n, d = x.shape
        h = self.attn_norm(x)
        shape = (b, n, self.n_heads, d // self.n_heads)
        q = self.q_proj(h).view(shape).transpose(1, 2)
        k = self.k_proj(h).view(shape).transpose(1, 2)
        v = self.v_proj(h).view(shape).transpose(1, 2)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        # key_mask [B, 1, 1, L] bool (True = attend) only for padded batches. LLaDA attention is
        # bidirectional; `causal` only serves training batches for causal chunk scoring.
        y = attention(q, k, v, key_mask, causal)
        x = x + self.attn_out(y.transpose(1, 2).reshape(b, n, d))
        h = self.ff_norm(x)
        return x + self.ff_out(F.silu(self.ff_proj(h)) * self.up_proj(h))


class LladaModel(nn.Module):
    def __init__(self, a: ModelArgs):
        super().__init__()
        self.args = a
        self.transformer = nn.ModuleDict({
            "wte": nn.Embedding(a.vocab_size, a.d_model),
            "blocks": nn.ModuleList(Block(a) for _ in range(a.n_layers)),
            "ln_f": RMSNorm(a.d_model, a.rms_eps),
            "ff_out": nn.Linear(a.d_model, a.vocab_size, bias=False),
        })
        self.reset_parameters()

    def reset_parameters(self):
        out_std = 0.02 / math.sqrt(2 * self.args.n_layers)
        for name, p in self.named_parameters():
            if p.dim() == 1:
                nn.init.ones_(p)
            elif "blocks." in name and name.endswith(("attn_out.weight", "ff_out.weight")):
                nn.init.normal_(p, std=out_std)  # residual-branch outputs, GPT-2 style
            else:
                nn.init.normal_(p, std=0.02)

    def forward(self, ids, key_mask=None, causal=False):
        return self.hidden(ids, key_mask, causal)

    def hidden(self, ids, key_mask=None, causal=False):
        """Final-norm hidden states [B, L, d] of token ids [B, L] (positions 0..L-1)."""
        t = self.transformer
        positions = torch.arange(ids.shape[1], device=ids.device)
        cos, sin = rope_cos_sin(positions, self.args.head_dim, self.args.rope_theta)
        x = t["wte"](ids)
        for block in t["blocks"]:
            x = block(x, cos, sin, key_mask, causal)
        return t["ln_f"](x)

    def logits(self, h):
        return self.transformer["ff_out"](h)

    def num_params(self):
        return sum(p.numel() for p in self.parameters())


def llada_config(a: ModelArgs):
    """config.json in the field set of GSAI-ML/LLaDA's configuration_llada.py."""
    return {
        "activation_type": "silu", "alibi": False, "alibi_bias_max": 8.0,
        "architectures": ["LLaDAModelLM"], "attention_dropout": 0.0,
        "attention_layer_norm": False, "attention_layer_norm_with_affine": True,
        "auto_map": {"AutoConfig": "configuration_llada.LLaDAConfig",
                     "AutoModel": "modeling_llada.LLaDAModelLM",
                     "AutoModelForCausalLM": "modeling_llada.LLaDAModelLM"},
        "bias_for_layer_norm": False, "block_group_size": 1, "block_type": "llama",
        "d_model": a.d_model, "embedding_dropout": 0.0, "embedding_size": a.vocab_size,
        "eos_token_id": a.eos_id, "flash_attention": False, "include_bias": False,
        "include_qkv_bias": False, "init_cutoff_factor": None, "init_device": "meta",
        "init_fn": "mitchell", "init_std": 0.02, "input_emb_norm": False,
        "layer_norm_type": "rms", "layer_norm_with_affine": True,
        "mask_token_id": a.mask_id, "max_sequence_length": a.max_seq_len,
        "mlp_hidden_size": a.mlp_hidden, "mlp_ratio": 4, "model_type": "llada",
        "multi_query_attention": None, "n_heads": a.n_heads, "n_kv_heads": a.n_heads,
        "n_layers": a.n_layers, "pad_token_id": a.eos_id, "precision": None,
        "residual_dropout": 0.0, "rms_norm_eps": a.rms_eps, "rope": True,
        "rope_full_precision": True, "rope_theta": a.rope_theta, "scale_logits": False,
        "torch_dtype": "bfloat16", "transformers_version": "5.17.0", "use_cache": False,
        "vocab_size": a.vocab_size, "weight_tying": False,
        # Not in LLaDA-8B's file; read by the engine (BOS anchors, EoT as a stop token).
        "bos_token_id": a.bos_id, "eot_token_id": a.eot_id,
    }


def export_checkpoint(model: LladaModel, out_dir, tokenizer_dir, extra_files=None):
    """Writes out_dir/{config.json, model.safetensors (bf16), tokenizer.json,
    tokenizer_config.json}; each file is written to a temporary name and renamed."""
    os.makedirs(out_dir, exist_ok=True)

    def write_text(name, text):
        tmp = os.path.join(out_dir, name + ".tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, os.path.join(out_dir, name))

    tensors = {"model." + k: v.detach().to(torch.bfloat16).cpu().contiguous()
               for k, v in model.state_dict().items()}
    tmp = os.path.join(out_dir, "model.safetensors.tmp")
    save_safetensors(tensors, tmp)
    os.replace(tmp, os.path.join(out_dir, "model.safetensors"))
    write_text("config.json", json.dumps(llada_config(model.args), indent=2) + "\n")
    for name in ("tokenizer.json", "tokenizer_config.json"):
        with open(os.path.join(tokenizer_dir, name), encoding="utf-8") as f:
            write_text(name, f.read())
    for name, text in (extra_files or {}).items():
        write_text(name, text)


# safetensors I/O: the package where it is installed, else a minimal reader/writer of the same
# format (8-byte little-endian header length, JSON header, raw little-endian data), so the
# trainer also runs on Debian's torch 1.13 without the package (CPU debugging).
_ST_DTYPES = {torch.bfloat16: "BF16", torch.float16: "F16", torch.float32: "F32",
              torch.int32: "I32", torch.int64: "I64"}


def save_safetensors(tensors, path):
    try:
        from safetensors.torch import save_file
    except ImportError:
        save_file = None
    if save_file is not None:
        save_file(tensors, path, metadata={"format": "pt"})
        return
    header, blobs, offset = {"__metadata__": {"format": "pt"}}, [], 0
    for name in sorted(tensors):
        t = tensors[name].contiguous().cpu()
        raw = t.view(torch.int16).numpy().tobytes() if t.dtype in (torch.bfloat16, torch.float16) \
            else t.numpy().tobytes()
        header[name] = {"dtype": _ST_DTYPES[t.dtype], "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    head = json.dumps(header, separators=(",", ":")).encode()
    head += b" " * (-len(head) % 8)
    with open(path, "wb") as f:
        f.write(len(head).to_bytes(8, "little"))
        f.write(head)
        for raw in blobs:
            f.write(raw)


def load_safetensors(path):
    try:
        from safetensors.torch import load_file
    except ImportError:
        load_file = None
    if load_file is not None:
        return load_file(path)
    import numpy as np
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        a, b = info["data_offsets"]
        dtype = {v: k for k, v in _ST_DTYPES.items()}[info["dtype"]]
        if dtype in (torch.bfloat16, torch.float16):
            t = torch.from_numpy(np.frombuffer(data[a:b], dtype=np.int16).copy()).view(dtype)
        else:
            np_dtype = {torch.float32: np.float32, torch.int32: np.int32,
                        torch.int64: np.int64}[dtype]
            t = torch.from_numpy(np.frombuffer(data[a:b], dtype=np_dtype).copy())
        out[name] = t.reshape(info["shape"])
    return out
