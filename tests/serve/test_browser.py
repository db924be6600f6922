"""The walkthrough in a real browser: Debian's headless chromium, driven by Selenium.

It does what a DIGITS user did in DIGITS' pages and checks what a person sees: text,
pictures that loaded (non-zero natural size), the loss chart's point count. With
SCREENSHOTS_DIR set (`make screenshots`) it saves the README's screenshots there.

chromium and chromium-driver come from apt (`make test` installs them); when they are
missing this test fails, it never skips.
"""

import os

import pytest

import serving
import waiting

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
WAIT_S = 240


def chromium(width, height):
    """Debian's headless chromium through chromedriver, in a width x height window (a
    selenium WebDriver; the caller quits it). Fails the test when either is missing."""
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not os.path.exists(path)]
    if missing:
        pytest.fail(f"the browser test needs {' and '.join(missing)}: "
                    "apt-get install -y chromium chromium-driver (make test does it as root)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--no-proxy-server",
                     "--disable-dev-shm-usage", f"--window-size={width},{height}",
                     "--force-device-scale-factor=1"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(120)
    return driver


@pytest.fixture(scope="module")
def browser():
    driver = chromium(1360, 1000)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    base = tmp_path_factory.mktemp("browser")
    data = serving.write_digit_lists(str(base / "mnist"))
    jobs_dir = base / "jobs"
    jobs_dir.mkdir()
    server = serving.start_server(["--jobs-dir", jobs_dir, "--data-root", data], base / "logs")
    yield server, data, str(jobs_dir)
    assert server.stop() == 0, server.log()


def wait(driver, condition, what, timeout=WAIT_S):
    return waiting.until(lambda: condition(driver), what, timeout, interval=0.25,
                         explain=lambda: f"page: {driver.current_url}\n"
                                         f"{driver.find_element('tag name', 'body').text[:2000]}")


def by_id(driver, element_id):
    return driver.find_element("id", element_id)


def loaded(driver, selector):
    """Natural widths of the <img> elements matching a CSS selector."""
    return driver.execute_script(
        "return Array.from(document.querySelectorAll(arguments[0]))"
        ".map(function (i) { return i.complete ? i.naturalWidth : 0; });", selector)


def fill(driver, values):
    for name, value in values.items():
        field = by_id(driver, name)
        field.clear()
        field.send_keys(value)


def points(driver):
    chart = by_id(driver, "loss-chart")
    return int(chart.get_attribute("data-train-points")), int(chart.get_attribute("data-val-points"))


def shoot(driver, name):
    folder = os.environ.get("SCREENSHOTS_DIR")
    if folder:
        os.makedirs(folder, exist_ok=True)
        driver.save_screenshot(os.path.join(folder, name))


def status_is(word):
    return lambda d: by_id(d, "status").text == word


def test_walkthrough_in_the_browser(browser, site, tmp_path):
    server, data, jobs_dir = site
    driver = browser
    driver.get(server.url + "/")
    assert "No datasets yet" in driver.page_source and "No models yet" in driver.page_source
    stylesheet = driver.execute_script("return getComputedStyle(document.body).fontFamily")
    assert "system-ui" in stylesheet                      # style.css came from the server

    # New Dataset › Images › Other, from the image list
    driver.find_element("link text", "New Dataset › Images › Other").click()
    by_id(driver, "tab-list").click()
    assert not by_id(driver, "prebuilt_train_images").is_displayed()
    fill(driver, {"list_file": "train.txt", "val_list_file": "val.txt", "image_count": "320",
                  "val_image_count": "64", "positive_fraction": "0.5", "seed": "0",
                  "dataset_name": "mnist pairs"})
    by_id(driver, "create-dataset").click()
    wait(driver, status_is("Done"), "the dataset to be built")
    assert "320" in by_id(driver, "counts").text and "0.500" in by_id(driver, "counts").text
    wait(driver, lambda d: loaded(d, "#mean-image")[0] > 0, "the mean image")
    pictures = wait(driver, lambda d: all(loaded(d, ".test-picture")) and loaded(d, ".test-picture"),
                    "the test pictures")
    assert len(pictures) == 40

    # New Model › Images › Other: the shipped network, Visualize, a mistake shown beside it
    driver.find_element("link text", "New model on this dataset").click()
    network = by_id(driver, "custom_network")
    assert "ContrastiveLoss" in network.get_attribute("value")
    by_id(driver, "visualize").click()
    wait(driver, lambda d: loaded(d, "#network-preview") and loaded(d, "#network-preview")[0] > 0,
         "the network picture")
    good = network.get_attribute("value")
    broken = good.replace('type: "Pooling"', 'type: "Pooling" kernel: 2', 1)
    driver.execute_script("arguments[0].value = arguments[1];", network, broken)
    by_id(driver, "visualize").click()
    error = wait(driver, lambda d: by_id(d, "network-error").is_displayed()
                 and by_id(d, "network-error").text, "Visualize's error")
    assert "line " in error
    fill(driver, {"model_name": "siamese", "train_epochs": "300", "batch_size": "32",
                  "learning_rate": "0.01", "snapshot_interval": "2"})
    from selenium.webdriver.support.ui import Select
    Select(by_id(driver, "lr_policy")).select_by_value("fixed")
    Select(by_id(driver, "select_gpu")).select_by_value("cpu")
    by_id(driver, "create-model").click()
    beside = wait(driver, lambda d: d.find_elements("css selector",
                                                    '[data-error-for="custom_network"]'),
                  "the form's error beside the network")
    assert "line " in beside[0].text and "New Image Model" in driver.page_source
    network = by_id(driver, "custom_network")
    driver.execute_script("arguments[0].value = arguments[1];", network, good)
    by_id(driver, "create-model").click()

    # the model page: the chart gains points without a reload
    wait(driver, lambda d: "/models/2" in d.current_url and by_id(d, "loss-chart"), "model page")
    driver.execute_script("window.stillTheSamePage = true;")
    wait(driver, lambda d: points(d)[1] >= 2 and points(d)[0] >= 2, "two validation points")
    first = points(driver)
    wait(driver, lambda d: points(d)[0] > first[0], "more training points")
    assert driver.execute_script("return window.stillTheSamePage === true;")
    assert by_id(driver, "status").text == "Running"
    assert by_id(driver, "learning-rate").text and by_id(driver, "pairs-per-s").text
    wait(driver, lambda d: loaded(d, "#network-image")[0] > 0, "the network picture")
    wait(driver, lambda d: by_id(d, "eta").text, "time left")
    shoot(driver, "model-training.png")

    # Abort (snapshot and stop), then Resume: the chart goes on from there; the buttons offer
    # only what the server would do (no Resume or Delete while it runs, no Abort once stopped)
    assert not by_id(driver, "resume").is_enabled() and not by_id(driver, "delete").is_enabled()
    by_id(driver, "abort").click()
    wait(driver, status_is("Aborted"), "Aborted")
    wait(driver, lambda d: by_id(d, "resume").is_enabled() and not by_id(d, "abort").is_enabled(),
         "Resume offered, Abort not, once stopped")
    stopped = wait(driver, lambda d: points(d)[0] and points(d), "the chart after the reload")
    wait(driver, lambda d: by_id(d, "snapshots").find_elements("tag name", "li"),
         "the abort's snapshot listed")
    by_id(driver, "resume").click()
    wait(driver, lambda d: by_id(d, "status").text == "Running" and points(d)[0] > stopped[0],
         "training to go on after Resume")

    # home: the running model and the dataset, with progress and times
    driver.get(server.url + "/")
    models = by_id(driver, "models").text
    assert "siamese" in models and "Running" in models
    assert "Done" in by_id(driver, "datasets").text
    before = driver.find_element("css selector", '#models [data-field="percent"]').text
    wait(driver, lambda d: d.find_element("css selector", '#models [data-field="percent"]').text
         != before, "the home page's progress to move on its own")
    shoot(driver, "home.png")
    driver.find_element("link text", "siamese").click()
    wait(driver, status_is("Running"), "the model page")
    by_id(driver, "abort").click()
    wait(driver, status_is("Aborted"), "Aborted again")

    # Test One with visualizations and statistics (an upload of a create-db pair picture)
    dataset_id = next(name for name in os.listdir(jobs_dir)
                      if os.path.isdir(os.path.join(jobs_dir, name, "dataset")))
    pair = os.path.join(jobs_dir, dataset_id, "dataset", "val_test_different_class_0.png")
    by_id(driver, "image_file").send_keys(pair)
    assert by_id(driver, "show_visualizations").is_selected()
    by_id(driver, "test-one-button").click()
    wait(driver, lambda d: by_id(d, "distance"), "Test One's answer")
    assert float(by_id(driver, "distance").text) >= 0
    assert by_id(driver, "verdict").text.startswith(("same class", "different classes"))
    assert len(by_id(driver, "point-left").text.split(",")) == 2
    assert len(driver.find_elements("css selector", "#two-points circle.point")) == 2
    assert loaded(driver, "#input-image")[0] > 0
    blobs = loaded(driver, "#blob-table img")
    assert len(blobs) >= 10 and all(blobs), blobs
    table = by_id(driver, "blob-table").text
    assert "conv1_left" in table and "feat_left" in table
    assert "conv1" in by_id(driver, "param-table").text
    shoot(driver, "test-one.png")
    driver.back()

    # Test Many: the table, the cluster plot and the downloads
    wait(driver, lambda d: by_id(d, "image_list"), "the model page again")
    by_id(driver, "image_list").send_keys(os.path.join(data, "val.txt"))
    by_id(driver, "test-many-button").click()
    wait(driver, lambda d: by_id(d, "predictions"), "Test Many's table")
    rows = by_id(driver, "predictions").find_elements("tag name", "tr")
    assert len(rows) == 61
    assert loaded(driver, "#cluster-plot")[0] > 0
    csv = driver.execute_async_script(
        "var done = arguments[0]; fetch(document.getElementById('download-csv').href)"
        ".then(function (r) { return r.text(); }).then(done);")
    assert len(csv.strip().splitlines()) == 61 and csv.startswith("path,label,distance")
    shoot(driver, "test-many.png")

    # nothing the pages asked for was refused or missing (the CSP allows only this server);
    # the two 400s are the mistakes made on purpose above
    expected = ("/models/visualize-network", "/models/images/generic ")
    problems = [entry["message"] for entry in driver.get_log("browser")
                if entry["level"] == "SEVERE" and not (
                    "status of 400" in entry["message"]
                    and entry["message"].startswith(tuple(server.url + e for e in expected)))]
    assert not problems, problems


@pytest.fixture(scope="module")
def twin_site(tiny_job, digit_pngs, tmp_path_factory):
    """The tiny trained job served with the twenty digit PNGs as data root, and a gallery
    of them built through POST /models/<id>/galleries.json."""
    import shutil

    base = tmp_path_factory.mktemp("browser-twin")
    jobs_dir, data = base / "jobs", base / "data"
    shutil.copytree(tiny_job.path, jobs_dir / tiny_job.job_id)
    shutil.copytree(digit_pngs[0], data)
    server = serving.start_server(["--jobs-dir", jobs_dir, "--data-root", data], base / "logs")
    status, answer = serving.call(server.url + f"/models/{tiny_job.job_id}/galleries.json",
                                  {"image_list": "list.txt"})
    assert status == 200, answer
    url = server.url + f"/galleries/{answer['id']}.json"
    waiting.until(lambda: serving.call(url)[1]["status"] == "done", "the gallery", 180, 0.5)
    yield server, tiny_job.job_id, str(data), digit_pngs[2], answer["id"]
    assert server.stop() == 0, server.log()


def test_verify_and_search_in_the_browser(browser, twin_site):
    server, job_id, data, entries, gallery_id = twin_site
    driver = browser
    driver.get(server.url + f"/models/{job_id}")
    same_a, same_b = (os.path.join(data, name) for name, label in entries if label == 4)
    by_id(driver, "image_file_a").send_keys(same_a)
    by_id(driver, "image_file_b").send_keys(same_b)
    by_id(driver, "verify-button").click()
    wait(driver, lambda d: by_id(d, "distance"), "Verify's answer")
    assert float(by_id(driver, "distance").text) >= 0
    assert by_id(driver, "verdict").text.startswith(("same class", "different classes"))
    assert "half the margin" in by_id(driver, "threshold-source").text
    assert by_id(driver, "placement").text == "not measured for this snapshot"
    pictures = loaded(driver, ".verify-input")
    assert len(pictures) == 2 and all(pictures), pictures
    shoot(driver, "verify.png")

    driver.back()
    wait(driver, lambda d: by_id(d, "search-button"), "the model page again")
    assert gallery_id in by_id(driver, "gallery_id").text
    query, label = entries[7]
    by_id(driver, "search_file").send_keys(os.path.join(data, query))
    fill(driver, {"k": "4"})
    by_id(driver, "search-button").click()
    wait(driver, lambda d: by_id(d, "neighbours"), "Search's answer")
    neighbours = wait(driver, lambda d: all(loaded(d, "img.neighbour")) and loaded(d, "img.neighbour"),
                      "the neighbour pictures")
    assert len(neighbours) == 4 and all(width == 28 for width in neighbours), neighbours
    rows = by_id(driver, "neighbours").find_elements("tag name", "tr")[1:]
    assert rows[0].find_element("class name", "label").text == str(label)
    distances = [float(r.find_element("class name", "distance").text) for r in rows]
    assert distances == sorted(distances) and distances[0] < 1e-4
    assert "passes the threshold" in by_id(driver, "nearest-verdict").text
    assert loaded(driver, "#query-image")[0] > 0
    shoot(driver, "search.png")


def test_a_gallery_is_built_from_the_model_page(browser, twin_site):
    from selenium.webdriver.support.select import Select

    server, job_id, data, entries, first_gallery = twin_site
    driver = browser
    driver.get(server.url + f"/models/{job_id}")
    rows = {row.get_attribute("data-gallery"): row.get_attribute("data-status")
            for row in driver.find_elements("css selector", "#gallery-table tr[data-gallery]")}
    assert rows == {first_gallery: "done"}

    # a list the data root does not hold: the form comes back naming the field, as typed
    fill(driver, {"gallery_image_list": "missing.txt"})
    by_id(driver, "build-gallery-button").click()
    wait(driver, lambda d: d.find_elements("css selector", '[data-error-for="image_list"]'),
         "the field's error")
    assert "does not exist" in driver.find_element(
        "css selector", '[data-error-for="image_list"]').text
    assert by_id(driver, "gallery_image_list").get_attribute("value") == "missing.txt"
    assert len(driver.find_elements("css selector", "#gallery-table tr[data-gallery]")) == 1

    # the list in the data root, an HNSW index: queued, shown while it builds, then done
    fill(driver, {"gallery_image_list": "list.txt"})
    Select(by_id(driver, "gallery_index")).select_by_value("hnsw")
    by_id(driver, "build-gallery-button").click()
    wait(driver, lambda d: len(d.find_elements("css selector",
                                               "#gallery-table tr[data-gallery]")) == 2,
         "the new gallery's row")
    new = next(row.get_attribute("data-gallery") for row in driver.find_elements(
        "css selector", "#gallery-table tr[data-gallery]")
        if row.get_attribute("data-gallery") != first_gallery)
    row = f'#gallery-table tr[data-gallery="{new}"]'
    wait(driver, lambda d: d.find_element("css selector", row).get_attribute("data-status")
         == "done", "the gallery built from the page", timeout=180)
    cells = [c.text for c in driver.find_elements("css selector", row + " td")]
    assert cells[1:4] == ["done", str(len(entries)), "hnsw"], cells
    choices = [o.get_attribute("value") for o in
               Select(by_id(driver, "gallery_id")).options]
    assert set(choices) == {first_gallery, new}
    driver.execute_script("arguments[0].scrollIntoView();", by_id(driver, "galleries"))
    shoot(driver, "galleries.png")

    # and searched at once: a listed digit finds itself first
    Select(by_id(driver, "gallery_id")).select_by_value(new)
    query, label = entries[3]
    by_id(driver, "search_file").send_keys(os.path.join(data, query))
    by_id(driver, "search-button").click()
    wait(driver, lambda d: by_id(d, "neighbours"), "Search's answer")
    first = by_id(driver, "neighbours").find_elements("tag name", "tr")[1]
    assert first.find_element("class name", "label").text == str(label)
    assert new in driver.find_element("tag name", "body").text
