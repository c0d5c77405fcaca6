# %% [markdown]
# # Why contrastive learning works - a walkthrough with `clustertheory`
#
# Open `classroom/walkthrough.ipynb` in Jupyter (it is this script, cell for cell, with its
# outputs), or run the script (`python classroom/walkthrough.py`). It takes a few minutes on a
# laptop CPU and writes its pictures to `classroom/output/`. Section 4 has exercises.
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
import sys
import warnings
from pathlib import Path

import matplotlib

IN_NOTEBOOK = "ipykernel" in sys.modules
if not IN_NOTEBOOK:
    matplotlib.use("Agg")  # a script only writes its pictures
import matplotlib.pyplot as plt
import networkx as nx
import numpy as np

from clustertheory.analysis.metrics import alignment_error, cluster_purity, preserves_clusters, natural_vertex_law, uniformity
from clustertheory.data import augmentation_graph, cluster_components, comb_dataset
from clustertheory.functions import make_function_class
from clustertheory.plotting import animate_relaxed_codes
from clustertheory.training import TrainConfig, train

if IN_NOTEBOOK:  # clustertheory.plotting chose the file-only backend: show figures in the notebook again
    from IPython import get_ipython

    get_ipython().run_line_magic("matplotlib", "inline")
    warnings.filterwarnings("ignore", message="IProgress not found")  # plain text progress is fine here

QUICK = os.environ.get("CLASSROOM_QUICK") == "1"  # the test suite runs a shortened version
OUT = Path(os.environ.get("CLASSROOM_OUT", Path("output") if IN_NOTEBOOK else Path(__file__).parent / "output"))
OUT.mkdir(parents=True, exist_ok=True)


def show(fig, name: str) -> None:
    """Save the picture to OUT/name; in a notebook also show it below the cell."""
    fig.savefig(OUT / name, dpi=90, bbox_inches="tight")
    if IN_NOTEBOOK:
        plt.show()
    else:
        plt.close(fig)

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
show(fig, "augmentation_graph.png")

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
if IN_NOTEBOOK:
    from IPython.display import Image, display

    display(Image(filename=str(gif)))

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
show(fig, "bounded_vs_unrestricted.png")
print("pictures written to", OUT)

# %% [markdown]
# ## 4. Exercises: change one thing, predict, then look
# `exercise(...)` trains 8 seeds of the band-limited class on a comb (4 clusters, 3 natural
# images each) and reports how many seeds keep every cluster whole, how far the vertex law is
# from uniform (total variation, 0 = every vertex used equally), and the final training loss.
# Change one argument at a time and predict the outcome before you look at the table below.
#
# 1. **Bandwidth** `bandwidth` (B, default 2, with T = 4 teeth). Raise it to 4 or 6. Now the
#    class can resolve the teeth: it contains a function that cuts every cluster along its
#    augmentation sets, and that split costs InfoNCE nothing (delta-regularity drops to 0).
#    *You should see* the cluster-preserving seeds fall from all to none, as with the lookup
#    table, while the final loss is no higher (here even a little lower): the loss does not
#    prefer the cluster-preserving code.
# 2. **Teeth** `teeth` (T, default 4, with B = 2). Lower it to 2: wide teeth are within the
#    class's reach (T <= B), and clusters split again. Raise it to 8: the augmentation sets
#    intertwine more finely than the class can follow. *You should see* no seed preserve at
#    T = 2 and every seed preserve at T = 8. What decides is whether B reaches T.
# 3. **Number of negatives** `num_negatives` (l, default 16). Try 1 and 64. The minimum of the
#    loss grows with l (each negative adds a term to log(1 + sum of exp)), but Theorem 4.5
#    holds for every l >= 1: the minimiser stays uniform and cluster-preserving. *You should
#    see* the final loss change more than tenfold (about 0.2 at l = 1, 2.9 at l = 64) while
#    every seed still keeps its clusters whole on distinct, equally used vertices (TV 0). In
#    the shortened run (CLASSROOM_QUICK=1) a few seeds may not have finished sorting yet.

# %%
def exercise(bandwidth: int = 2, teeth: int = 4, num_negatives: int = 16, seeds: int = 8) -> dict:
    """Train ``seeds`` band-limited models on a comb; summarise what they learned."""
    comb = comb_dataset(num_clusters=4, points_per_cluster=3, teeth=teeth, seed=0)
    model = make_function_class("band-limited", comb, dim=2, seeds=list(range(seeds)), bandwidth=bandwidth)
    settings = TrainConfig(steps=config.steps, num_negatives=num_negatives, log_every=config.steps)
    trained = train(model, comb, settings, seed=0)
    last = max(row["step"] for row in trained.history)
    return {
        "preserving seeds": f"{sum(preserves_clusters(c, comb) for c in trained.codes)}/{seeds}",
        "TV from uniform": round(float(np.mean([uniformity(natural_vertex_law(c, comb))["tv"] for c in trained.codes])), 3),
        "final loss": round(float(np.mean([row["train_loss"] for row in trained.history if row["step"] == last])), 3),
    }


exercise_seeds = 4 if QUICK else 8
changes = [{}, {"bandwidth": 4}, {"bandwidth": 6}, {"teeth": 2}, {"teeth": 8}, {"num_negatives": 1}, {"num_negatives": 64}]
print(f"{'change':<22} {'preserving seeds':>16} {'TV from uniform':>16} {'final loss':>11}")
for change in changes:
    outcome = exercise(**change, seeds=exercise_seeds)
    label = ", ".join(f"{k}={v}" for k, v in change.items()) or "none (B=2, T=4, l=16)"
    print(f"{label:<22} {outcome['preserving seeds']:>16} {outcome['TV from uniform']:>16} {outcome['final loss']:>11}")
