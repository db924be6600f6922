/* siamese-caffe's pages: polling, the loss chart (uPlot, vendored), buttons. No CDN. */
var SiameseCaffe = (function () {
  "use strict";
  var POLL_MS = 1500;

  function getJSON(url) {
    return fetch(url, {headers: {"Accept": "application/json"}, cache: "no-store"})
      .then(function (r) { return r.json(); });
  }

  function duration(s) {
    if (s === null || s === undefined) { return ""; }
    s = Math.round(s);
    var h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
    if (h) { return h + "h " + String(m).padStart(2, "0") + "m"; }
    return m ? m + "m " + String(sec).padStart(2, "0") + "s" : sec + "s";
  }

  /* The model page's buttons, as the server would answer them: Abort while the job waits or
     runs, Resume when it stopped short of its end, Delete when it neither waits nor runs. */
  function setActions(word) {
    var moving = word === "Waiting" || word === "Running";
    var enable = {abort: moving, resume: !moving && word !== "Done", delete: !moving};
    Object.keys(enable).forEach(function (id) {
      var button = document.getElementById(id);
      if (button) { button.disabled = !enable[id]; }
    });
  }

  function setStatus(el, word) {
    el.textContent = word;
    el.className = "status " + ({Initialized: "warning", Waiting: "warning", Running: "info",
      Done: "success", Aborted: "warning", Error: "danger"}[word] || "default");
  }

  /* Home: while something runs, refresh statuses and progress in place; reload when
     the set of jobs or a job's status changes. */
  function watchHome() {
    var home = document.getElementById("home");
    if (!home || home.dataset.running !== "yes") { return; }
    var timer = setInterval(function () {
      getJSON("/completed_jobs.json").then(function (data) {
        var items = data.running.concat(data.datasets, data.models), changed = false;
        var rows = document.querySelectorAll("tr[data-job]");
        if (rows.length !== items.length) { changed = true; }
        items.forEach(function (item) {
          var row = document.querySelector('tr[data-job="' + item.id + '"]');
          if (!row) { changed = true; return; }
          var status = row.querySelector('[data-field="status"]');
          if (status.textContent !== item.status) { changed = true; }
          var bar = row.querySelector('[data-field="progress"]');
          if (bar) { bar.style.width = item.progress + "%"; }
          var pct = row.querySelector('[data-field="percent"]');
          if (pct) { pct.textContent = item.progress + " %"; }
          row.querySelector('[data-field="elapsed"]').textContent = duration(item.elapsed);
        });
        if (changed) { clearInterval(timer); location.reload(); }
      }).catch(function () {});
    }, POLL_MS);
  }

  function reloadWhileRunning(id, url) {
    var page = document.getElementById(id);
    if (!page || page.dataset.running !== "yes") { return; }
    var timer = setInterval(function () {
      getJSON(url).then(function (doc) {
        if (["Initialized", "Waiting", "Running"].indexOf(doc.status) < 0) {
          clearInterval(timer); location.reload();
        }
      }).catch(function () {});
    }, POLL_MS);
  }

  // The model page's galleries table: while a build waits or runs, its status is polled,
  // and the page reloads once every build has ended (Search then lists the new one).
  function watchGalleries(jobId) {
    var pending = document.querySelectorAll('#gallery-table tr[data-status="waiting"], ' +
                                            '#gallery-table tr[data-status="running"]');
    if (!pending.length) { return; }
    var timer = setInterval(function () {
      getJSON("/models/" + jobId + "/galleries.json").then(function (doc) {
        var moving = doc.galleries.filter(function (g) {
          return g.status === "waiting" || g.status === "running";
        });
        doc.galleries.forEach(function (g) {
          var cell = document.querySelector('tr[data-gallery="' + g.id + '"] .gallery-status');
          if (cell) { cell.textContent = g.status; }
        });
        if (!moving.length) { clearInterval(timer); location.reload(); }
      }).catch(function () {});
    }, POLL_MS);
  }

  function bindActions() {
    document.querySelectorAll("button[data-action]").forEach(function (button) {
      button.addEventListener("click", function () {
        var action = button.dataset.action;
        if (action === "delete" && !confirm("Delete this job and its files?")) { return; }
        fetch(button.dataset.url, {method: action === "delete" ? "DELETE" : "POST"})
          .then(function (r) {
            return r.text().then(function (text) {
              if (!r.ok) {
                var message = text;
                try { message = JSON.parse(text).error.description; } catch (e) {}
                alert(message);
                return;
              }
              if (action === "delete") { location.href = "/"; } else { location.reload(); }
            });
          });
      });
    });
  }

  function bindVisualize() {
    var button = document.getElementById("visualize");
    if (!button) { return; }
    button.addEventListener("click", function () {
      var form = new FormData();
      form.append("custom_network", document.getElementById("custom_network").value);
      var file = document.getElementById("custom_network_file").files[0];
      if (file) { form.append("custom_network_file", file); }
      var box = document.getElementById("network-picture");
      var error = document.getElementById("network-error");
      box.textContent = "drawing…";
      fetch("/models/visualize-network", {method: "POST", body: form})
        .then(function (r) { return r.json(); })
        .then(function (answer) {
          box.textContent = "";
          if (answer.error) {
            error.hidden = false;
            error.textContent = answer.error;
            return;
          }
          error.hidden = true;
          var img = document.createElement("img");
          img.id = "network-preview";
          img.alt = "network";
          img.src = answer.image;
          box.appendChild(img);
        });
    });
  }


  /* A line chart of one series against epochs (uPlot), made once and then given new data. */
  function lineChart(holder, label, color) {
    var chart = null;
    return function (x, y) {
      holder.dataset.points = y.length;
      if (!chart) {
        chart = new uPlot({
          width: Math.max(300, Math.min(holder.clientWidth || 600, 900)), height: 220,
          scales: {x: {time: false}},
          axes: [{label: "epoch"}, {label: label, size: 70}],
          series: [{label: "epoch"}, {label: label, stroke: color, width: 2}]
        }, [x, y], holder);
      } else {
        chart.setData([x, y]);
      }
    };
  }

  /* New Dataset: the two methods as tabs; only the chosen one's fields are sent. */
  function bindTabs() {
    var method = document.getElementById("method");
    var tabs = document.querySelectorAll(".tab[data-method]");
    function choose(which) {
      method.value = which;
      tabs.forEach(function (tab) {
        var on = tab.dataset.method === which;
        tab.classList.toggle("active", on);
        tab.setAttribute("aria-selected", on ? "true" : "false");
      });
      document.querySelectorAll(".method-panel").forEach(function (panel) {
        var on = panel.dataset.method === which;
        panel.hidden = !on;
        panel.disabled = !on;
      });
    }
    tabs.forEach(function (tab) {
      tab.addEventListener("click", function () { choose(tab.dataset.method); });
    });
  }

  /* New Model: the learning-rate schedule of the fields, drawn again as they change. */
  function bindLrPreview() {
    var form = document.getElementById("model-form");
    var holder = document.getElementById("lr-chart");
    var error = document.getElementById("lr-error");
    var draw = lineChart(holder, "learning rate", "#2ca02c"), pending = null;
    function refresh() {
      var fields = new FormData(form);
      fields.delete("custom_network");
      fields.delete("custom_network_file");
      fetch("/models/visualize-lr", {method: "POST", body: fields})
        .then(function (r) { return r.json(); })
        .then(function (answer) {
          if (answer.errors) {
            error.hidden = false;
            error.textContent = Object.keys(answer.errors).map(function (k) {
              return k + ": " + answer.errors[k].join(" "); }).join("; ");
            return;
          }
          error.hidden = true;
          holder.dataset.last = answer.learning_rate[answer.learning_rate.length - 1];
          draw(answer.epoch, answer.learning_rate);
        }).catch(function () {});
    }
    form.querySelectorAll("input, select").forEach(function (field) {
      if (field.type === "file") { return; }
      field.addEventListener("input", function () {
        clearTimeout(pending);
        pending = setTimeout(refresh, 250);
      });
      field.addEventListener("change", refresh);
    });
    refresh();
  }

  /* The model page's Download: the archive format picks the route, as DIGITS' links did. */
  function bindDownload(jobId) {
    var form = document.getElementById("download-form"), format = document.getElementById("download-format");
    if (!form) { return; }
    format.addEventListener("change", function () {
      form.action = "/models/" + jobId + "/download" + (format.value === "zip" ? ".zip" : "");
    });
  }

  /* Long result tables: one page of rows at a time, with Previous / Next. */
  function pageTables() {
    document.querySelectorAll("table.paged").forEach(function (table) {
      var rows = Array.prototype.slice.call(table.tBodies[0].rows);
      var size = Number(table.dataset.pageSize) || 50, pages = Math.max(1, Math.ceil(rows.length / size));
      var pager = document.querySelector('.pager[data-for="' + table.id + '"]'), page = 0;
      function show() {
        rows.forEach(function (row, k) { row.hidden = Math.floor(k / size) !== page; });
        if (!pager) { return; }
        pager.innerHTML = "";
        var prev = document.createElement("button"), next = document.createElement("button");
        var where = document.createElement("span");
        prev.type = next.type = "button";
        prev.textContent = "‹ Previous";
        next.textContent = "Next ›";
        prev.className = "page-prev";
        next.className = "page-next";
        prev.disabled = page === 0;
        next.disabled = page >= pages - 1;
        where.className = "page-where";
        where.textContent = " rows " + (page * size + 1) + "–" + Math.min(rows.length, (page + 1) * size) +
          " of " + rows.length + " ";
        prev.addEventListener("click", function () { page -= 1; show(); });
        next.addEventListener("click", function () { page += 1; show(); });
        pager.appendChild(prev); pager.appendChild(where); pager.appendChild(next);
      }
      show();
    });
  }


  /* Home: a filter box, sortable columns, and several jobs selected to abort or delete. */
  function bindHome() {
    var filter = document.getElementById("job-filter");
    if (!filter) { return; }
    var rows = function () { return Array.prototype.slice.call(document.querySelectorAll("tr[data-job]")); };
    filter.addEventListener("input", function () {
      var words = filter.value.toLowerCase().trim();
      rows().forEach(function (row) {
        var text = [row.dataset.job, row.dataset.name, row.dataset.group, row.dataset.status]
          .join(" ").toLowerCase();
        row.hidden = words !== "" && text.indexOf(words) < 0;
      });
    });
    document.querySelectorAll("th.sortable").forEach(function (th) {
      th.addEventListener("click", function () {
        var body = th.closest("table").tBodies[0], key = th.dataset.key;
        var down = th.dataset.order !== "asc";
        th.closest("tr").querySelectorAll("th.sortable").forEach(function (o) { delete o.dataset.order; });
        th.dataset.order = down ? "asc" : "desc";
        Array.prototype.slice.call(body.rows).sort(function (a, b) {
          var x = (a.dataset[key] || "").toLowerCase(), y = (b.dataset[key] || "").toLowerCase();
          return (x < y ? -1 : x > y ? 1 : 0) * (down ? 1 : -1);
        }).forEach(function (row) { body.appendChild(row); });
      });
    });
    var bulk = document.querySelectorAll("button[data-bulk]");
    function chosen() {
      return Array.prototype.slice.call(document.querySelectorAll(".select-job:checked"))
        .map(function (box) { return box.value; });
    }
    function refresh() { bulk.forEach(function (b) { b.disabled = chosen().length === 0; }); }
    document.querySelectorAll(".select-job").forEach(function (box) { box.addEventListener("change", refresh); });
    document.querySelectorAll(".select-all").forEach(function (all) {
      all.addEventListener("change", function () {
        all.closest("table").querySelectorAll(".select-job").forEach(function (box) {
          if (!box.closest("tr").hidden) { box.checked = all.checked; }
        });
        refresh();
      });
    });
    bulk.forEach(function (button) {
      button.addEventListener("click", function () {
        var ids = chosen(), action = button.dataset.bulk;
        if (action === "delete" && !confirm("Delete " + ids.length + " job(s) and their files?")) { return; }
        var form = new FormData();
        ids.forEach(function (id) { form.append("job_ids[]", id); });
        fetch(action === "delete" ? "/jobs" : "/abort_jobs",
              {method: action === "delete" ? "DELETE" : "POST", body: form})
          .then(function (r) { return r.text().then(function (text) {
            if (!r.ok) {
              var message = text;
              try { message = JSON.parse(text).error.description; } catch (e) {}
              alert(message);
            }
            location.reload();
          }); });
      });
    });
  }

  /* Test One / Test Many / Test a DB: the request is tried first; a mistake is told beside
     the form and the page stays, a good answer is then shown as its own page. */
  function bindTestForms() {
    ["test-one", "test-many", "test-db"].forEach(function (id) {
      var form = document.getElementById(id);
      if (!form) { return; }
      var box = document.createElement("div");
      box.className = "field-error form-error";
      box.id = id + "-error";
      box.hidden = true;
      form.appendChild(box);
      form.addEventListener("submit", function (event) {
        event.preventDefault();
        box.hidden = true;
        var button = form.querySelector("button[type=submit]");
        button.disabled = true;
        fetch(form.action, {method: "POST", body: new FormData(form),
                            headers: {"Accept": "application/json"}})
          .then(function (r) { return r.text().then(function (text) {
            button.disabled = false;
            if (!r.ok) {
              var message = text;
              try { message = JSON.parse(text).error.description; } catch (e) {}
              box.textContent = message;
              box.hidden = false;
              return;
            }
            form.submit();          /* the answer is good: show it as its own page */
          }); })
          .catch(function (err) { button.disabled = false; box.textContent = String(err); box.hidden = false; });
      });
    });
  }

  /* The model page: poll progress.json, extend the loss chart without reloading. */
  function watchModel(jobId) {
    var holder = document.getElementById("loss-chart");
    var chart = null, lastStatus = null, snapshotCount = null;
    var drawRates = lineChart(document.getElementById("lr-chart"), "learning rate", "#2ca02c");
    bindDownload(jobId);
    bindTestForms();

    function aligned(p) {
      var xs = {}, i;
      p.train.epoch.forEach(function (x) { xs[x] = true; });
      p.val.epoch.forEach(function (x) { xs[x] = true; });
      var x = Object.keys(xs).map(Number).sort(function (a, b) { return a - b; });
      var train = x.map(function () { return null; }), val = train.slice();
      var index = {};
      x.forEach(function (v, k) { index[v] = k; });
      for (i = 0; i < p.train.epoch.length; i++) { train[index[p.train.epoch[i]]] = p.train.loss[i]; }
      for (i = 0; i < p.val.epoch.length; i++) { val[index[p.val.epoch[i]]] = p.val.loss[i]; }
      return [x, train, val];
    }

    function draw(p) {
      var data = aligned(p);
      holder.dataset.trainPoints = p.train.loss.length;
      holder.dataset.valPoints = p.val.loss.length;
      if (!chart) {
        chart = new uPlot({
          width: Math.max(320, holder.clientWidth || 640), height: 320,
          scales: {x: {time: false}},
          axes: [{label: "epoch"}, {label: "loss"}],
          series: [{label: "epoch"},
                   {label: "train loss", stroke: "#1f77b4", width: 2, spanGaps: true,
                    points: {show: true, size: 4}},
                   {label: "val loss", stroke: "#d62728", width: 2, spanGaps: true,
                    points: {show: true, size: 6}}]
        }, data, holder);
      } else {
        chart.setData(data);
      }
    }

    function text(id, value) { document.getElementById(id).textContent = value; }

    function update() {
      return getJSON("/models/" + jobId + "/progress.json").then(function (p) {
        draw(p);
        if (p.rates.epoch.length) { drawRates(p.rates.epoch, p.rates.learning_rate); }
        document.querySelectorAll(".needs-snapshot").forEach(function (b) {
          b.disabled = !p.snapshots.length; });
        var pct = Math.round(100 * p.progress);
        document.getElementById("progress-bar").style.width = pct + "%";
        text("progress", pct + " %");
        text("epoch", p.epoch.toFixed(2) + " / " + p.epochs);
        text("iteration", p.iteration + " / " + p.max_iter);
        text("learning-rate", p.learning_rate === null ? "" : p.learning_rate.toPrecision(3));
        text("pairs-per-s", p.pairs_per_s ? Math.round(p.pairs_per_s) : "");
        text("eta", p.status === "Running" && p.eta_s !== null ? duration(p.eta_s) : "");
        text("elapsed", duration(p.elapsed_s));
        setStatus(document.getElementById("status"), p.status);
        setActions(p.status);
        var message = document.getElementById("message");
        message.hidden = !p.message;
        message.textContent = p.message || "";
        if (snapshotCount !== null && p.snapshots.length !== snapshotCount) {
          var list = document.getElementById("snapshots");
          list.innerHTML = "";
          var selects = document.querySelectorAll(".snapshot-select");
          selects.forEach(function (s) { s.innerHTML = ""; });
          p.snapshots.forEach(function (s) {
            var li = document.createElement("li"), a = document.createElement("a");
            a.href = "/models/" + jobId + "/files/" + s.file;
            a.textContent = s.label;
            li.appendChild(a);
            list.appendChild(li);
          });
          p.snapshots.slice().reverse().forEach(function (s) {
            selects.forEach(function (sel) {
              var o = document.createElement("option");
              o.value = s.epoch;
              o.textContent = s.label;
              sel.appendChild(o);
            });
          });
        }
        snapshotCount = p.snapshots.length;
        lastStatus = p.status;
        return ["Initialized", "Waiting", "Running"].indexOf(p.status) >= 0;
      });
    }

    function loop() {
      update().then(function (running) {
        setTimeout(loop, running ? POLL_MS : POLL_MS * 4);
      }).catch(function () { setTimeout(loop, POLL_MS * 2); });
    }
    loop();
  }

  return {watchHome: watchHome, reloadWhileRunning: reloadWhileRunning,
          bindActions: bindActions, bindVisualize: bindVisualize, watchModel: watchModel,
          watchGalleries: watchGalleries,
          bindTabs: bindTabs, bindLrPreview: bindLrPreview, pageTables: pageTables,
          bindHome: bindHome};
})();
