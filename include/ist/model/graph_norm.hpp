#pragma once
// GIST's optional normalization of the hidden layers of the graph families (ist::Gcn, ist::Sage): a layer
// norm without learned scale or shift, over the (sub-)network's local width.

namespace ist {

enum class GraphNorm {
  None,     // no normalization (Kipf & Welling's GCN, GraphSAGE)
  PerNode,  // layer norm of each node's hidden vector (GraphSAGE in GIST's code: nn.LayerNorm(width))
  Whole,    // one mean and variance over the whole [nodes, width] activation (GIST's GCN: F.layer_norm(h, h.shape))
};

}  // namespace ist
