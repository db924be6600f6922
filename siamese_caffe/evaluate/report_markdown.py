"""report.md: the evaluation report (the dict report.evaluate makes) as a short Markdown page."""


def report_markdown(report, has_loss=True):
    """The Markdown text of a report dict (see report.evaluate)."""
    pairs, images = report["pairs"], report["images"]
    lines = [
        f"# Evaluation of job {report['job_id']}",
        "",
        f"Snapshot after {report['snapshot']} iterations (epoch {report['epoch']:g}); "
        f"margin {report['margin']:g}; dataset `{report['dataset']}`.",
        "",
        f"## Validation pairs ({pairs['count']}, {100 * pairs['positive_fraction']:.1f} % "
        "same class)",
        "",
        "| measure | value |",
        "| --- | --- |",
        f"| accuracy at threshold {pairs['threshold']:.4g} | {_pct(pairs['accuracy'])} |",
        f"| accuracy at the best threshold {pairs['best_threshold']:.4g} | "
        f"{_pct(pairs['best_accuracy'])} |",
        f"| ROC AUC | {_num(pairs['roc_auc'])} |",
        f"| equal error rate (threshold {pairs['eer_threshold']:.4g}) | "
        f"{_pct(pairs['equal_error_rate'])} |",
        f"| mean distance, same class | {_num(pairs['mean_distance_same'])} |",
        f"| mean distance, different classes | {_num(pairs['mean_distance_different'])} |",
        "",
        "![distances](distances.png) ![ROC](roc.png)",
        "",
        f"## Digits ({images['query_images']} evaluated, {images['reference_images']} reference)",
        "",
        f"Evaluated: {images['evaluated']}. Reference (training images): {images['reference']}."
        f" Evaluated digits with the pixels of a reference digit: "
        f"{images['images_also_in_reference']}.",
        "",
        f"**{images['k']}-nearest-neighbour class accuracy: {_pct(images['knn_accuracy'])}**",
        "",
        "| class | digits | k-NN accuracy | centroid | spread (RMS to centroid) |",
        "| --- | --- | --- | --- | --- |",
    ]
    for cls, entry in images["classes"].items():
        centroid = ", ".join(f"{v:.3f}" for v in entry["centroid"])
        lines.append(f"| {cls} | {entry['count']} | {_pct(entry['knn_accuracy'])} | "
                     f"({centroid}) | {entry['spread']:.3f} |")
    lines += ["", "![clusters](clusters.png)"
              + (f" ({images['projection']})" if images.get("projection") else "")]
    if has_loss:
        lines += ["", "## Training", "", "![loss](loss.png)"]
    return "\n".join(lines) + "\n"


def _pct(value):
    return f"{100 * value:.2f} %"


def _num(value):
    return "n/a" if value is None else f"{value:.4f}"
