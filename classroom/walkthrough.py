# %% [markdown]
# # Why contrastive learning works - a walkthrough with `clustertheory`
#
# Run as a script (`python classroom/walkthrough.py`) or open it as a notebook (the `# %%`
# cells are understood by VS Code, Spyder and Jupytext). It takes a minute or two on a laptop
# CPU and writes its pictures to `classroom/output/`.
#
# The story, after Parulekar et al. (COLT 2023):
# 1. Images are content (the cluster) plus style. Augmentations change style, keep content.
# 2. Augmentation sets can be *disjoint*: no image is an augmentation of two natural images.
#    Then nothing in the data glues a cluster together - only the function class does.
# 3. InfoNCE pulls an image and its augmentation together (alignment) and pushes random
#    images apart (uniformity). On the hypercube {-1,1}^d the best one can do is: every
#    cluster on its own vertex, vertices used equally often.
# 4. A *bounded* class that cannot resolve the fine teeth of the augmentation sets must keep
#    clusters whole, so InfoNCE's minimiser is cluster-preserving. An *unrestricted* class can
#    cut clusters along the augmentation sets at no cost, and then it need not.

# %%
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import networkx as nx
import numpy as np

from clustertheory.analysis.metrics import alignment_error, cluster_purity, preserves_clusters, natural_vertex_law, uniformity
from clustertheory.data import augmentation_graph, cluster_components, comb_dataset
from clustertheory.functions import make_function_class
from clustertheory.plotting import animate_relaxed_codes
from clustertheory.training import TrainConfig, train

QUICK = os.environ.get("CLASSROOM_QUICK") == "1"  # the test suite runs a shortened version
OUT = Path(os.environ.get("CLASSROOM_OUT", Path(__file__).parent / "output"))
OUT.mkdir(parents=True, exist_ok=True)

# %% [markdown]
# ## 1. Data with a known augmentation graph
# Four clusters (one per vertex of the square {-1,1}^2), three natural images per cluster, and
# a "comb": each natural image owns T = 4 thin teeth of its cluster's style circle.

# %%
data = comb_dataset(num_clusters=4, points_per_cluster=3, teeth=4, seed=0)
print(data.description, "|", data.num_base, "natural images,", data.num_views, "views")
print("connected components of the augmentation graph per cluster:", cluster_components(data))

graph = augmentation_graph(data)
# Draw one cluster: natural images on top, its views below in style order (around the circle).
cluster = 0
naturals = [node for node, attrs in graph.nodes(data=True) if node[0] == "base" and attrs["cluster"] == cluster]
views = sorted((node for node, attrs in graph.nodes(data=True) if node[0] == "view" and attrs["cluster"] == cluster), key=lambda n: data.style[n[1]])
sub = graph.subgraph(naturals + views)
pos = {node: (k * (len(views) - 1) / max(len(naturals) - 1, 1), 1.0) for k, node in enumerate(naturals)}
pos.update({node: (k, 0.0) for k, node in enumerate(views)})
owner_colours = plt.get_cmap("Set1")(np.arange(len(naturals)))
edge_colours = [owner_colours[naturals.index(u if u[0] == "base" else v)] for u, v in sub.edges]
fig, ax = plt.subplots(figsize=(8, 2.8))
nx.draw_networkx_edges(sub, pos, ax=ax, edge_color=edge_colours, width=1.2)
nx.draw_networkx_nodes(sub, pos, nodelist=naturals, node_color=owner_colours, node_size=160, ax=ax)
nx.draw_networkx_nodes(sub, pos, nodelist=views, node_color="0.4", node_size=25, ax=ax)
ax.set_title("one cluster's augmentation graph: 3 natural images (top), 12 views in style order (bottom)\n"
             "disjoint sets whose teeth interleave around the style circle (T = 4)")
ax.set_axis_off()
fig.savefig(OUT / "augmentation_graph.png", dpi=90, bbox_inches="tight")
plt.close(fig)

# %% [markdown]
# ## 2. Train InfoNCE over a bounded class, and watch the codes
# The band-limited class sees content and the style circle up to frequency B = 2 < T = 4: it
# cannot be constant on a comb's teeth while varying between natural images. We record the
# relaxed codes u = tanh(beta_t * score) as training sharpens them into hard signs.

# %%
config = TrainConfig(steps=150 if QUICK else 600, log_every=10 if QUICK else 20)
frames, steps = [], []


def record(step, model, sharpness):
    frames.append(np.tanh(sharpness * model.scores()[0].cpu().numpy()))
    steps.append(step)


bounded = make_function_class("band-limited", data, dim=2, seeds=[3], bandwidth=2)
result = train(bounded, data, config, seed=3, on_log=record)
codes = result.codes[0]
gif = animate_relaxed_codes(frames, steps, data.content, OUT / "training_animation.gif", title="band-limited B=2")
law = natural_vertex_law(codes, data)
print("bounded class: purity per cluster", cluster_purity(codes, data), "| alignment error", alignment_error(codes, data))
print("vertex law", np.round(law, 3), "| uniformity", {k: round(v, 4) for k, v in uniformity(law).items()})
print("cluster-preserving:", preserves_clusters(codes, data))

# %% [markdown]
# ## 3. What goes wrong with an unrestricted class
# A lookup table (one free code per view) can give each augmentation set its own vertex. It
# is just as aligned and just as uniform - the loss cannot tell it apart - but clusters get split.

# %%
table = make_function_class("lookup", data, dim=2, seeds=list(range(8)))
free = train(table, data, config, seed=0)
bounded_many = train(make_function_class("band-limited", data, dim=2, seeds=list(range(8)), bandwidth=2), data, config, seed=0)
split_free = sum(not preserves_clusters(c, data) for c in free.codes)
split_bounded = sum(not preserves_clusters(c, data) for c in bounded_many.codes)
print(f"seeds whose representation splits a cluster: lookup table {split_free}/8, band-limited {split_bounded}/8")

fig, axes = plt.subplots(1, 2, figsize=(8, 3.4), sharey=True)
for ax, trained, name in ((axes[0], bounded_many, "band-limited B=2"), (axes[1], free, "lookup table")):
    purities = [cluster_purity(c, data).min() for c in trained.codes]
    ax.bar(range(8), purities, color="tab:blue" if name.startswith("band") else "tab:red")
    ax.set_title(name)
    ax.set_xlabel("seed")
    ax.set_ylim(0, 1.05)
axes[0].set_ylabel("smallest cluster purity")
fig.suptitle("InfoNCE keeps clusters whole only when the class cannot cut along augmentation sets", y=1.04)
fig.savefig(OUT / "bounded_vs_unrestricted.png", dpi=90, bbox_inches="tight")
plt.close(fig)
print("pictures written to", OUT)
