"""The walkthrough's model-page steps in Debian's headless chromium, in a 1,024 px window:
the five-path "Other" dataset, Clone with one change (the learning-rate preview redrawn as
the fields change), Download, Test a DB. Every page fits the window (scrollWidth).
With SCREENSHOTS_DIR set, the screenshots go there (docs/screenshots by `make screenshots`).
"""

import os

import pytest

import serving
from test_browser import by_id, chromium, fill, loaded, shoot, status_is, wait

WIDTH = 1024


@pytest.fixture(scope="module")
def narrow_browser():
    driver = chromium(WIDTH, 900)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def model_site(tiny_job, tmp_path_factory):
    """A server with tiny_job and its dataset (see serving.start_job_site)."""
    server, data = serving.start_job_site(tiny_job, tmp_path_factory.mktemp("browser-model"))
    yield server, data, tiny_job.job_id
    assert server.stop() == 0, server.log()


def fits(driver):
    """Assert the page is no wider than the window (no sideways scrolling)."""
    width, inner = driver.execute_script(
        "return [document.documentElement.scrollWidth, window.innerWidth];")
    assert inner <= WIDTH and width <= inner, (driver.current_url, width, inner)


def fetch_bytes(driver, form_id):
    """The first bytes and size of what submitting form `form_id` downloads (fetched by
    the page itself, as the form would post it)."""
    return driver.execute_async_script(
        "var done = arguments[1], form = document.getElementById(arguments[0]);"
        "fetch(form.action, {method: 'POST', body: new FormData(form)})"
        ".then(function (r) { return r.arrayBuffer().then(function (b) {"
        "  done([r.status, Array.from(new Uint8Array(b.slice(0, 2))), b.byteLength,"
        "        r.headers.get('Content-Disposition')]); }); });", form_id)


def lr_last(driver):
    return by_id(driver, "lr-chart").get_attribute("data-last")


def test_other_dataset_clone_download_and_test_a_db(narrow_browser, model_site):
    driver = narrow_browser
    server, data, job_id = model_site

    # New Dataset › Images › Other as the walkthrough says: five paths and a name, Create
    driver.get(server.url + "/datasets/images/generic/new")
    assert by_id(driver, "prebuilt_train_images").is_displayed()
    assert not by_id(driver, "list_file").is_displayed()
    assert not driver.find_elements("css selector", "input[placeholder]")
    fill(driver, {"prebuilt_train_images": "siamesedb/train_images",
                  "prebuilt_train_labels": "siamesedb/train_labels",
                  "prebuilt_val_images": "siamesedb/val_images",
                  "prebuilt_val_labels": "siamesedb/val_labels",
                  "prebuilt_mean_file": "siamesedb/train_mean.binaryproto",
                  "dataset_name": "prebuilt pairs"})
    fits(driver)
    shoot(driver, "new-dataset-other.png")
    by_id(driver, "create-dataset").click()
    wait(driver, status_is("Done"), "the prebuilt dataset")
    assert "320" in by_id(driver, "counts").text
    fits(driver)

    # the model made by `train`: Clone it, change one field; the LR preview follows
    driver.get(f"{server.url}/models/{job_id}")
    wait(driver, lambda d: int(by_id(d, "lr-chart").get_attribute("data-points")) > 0,
         "the learning rate over training")
    assert by_id(driver, "snapshots").text.splitlines() == ["epoch 2 (iteration 20)",
                                                            "epoch 4 (iteration 40)"]
    fits(driver)
    by_id(driver, "clone").click()
    wait(driver, lambda d: "clone=" in d.current_url and by_id(d, "custom_network"),
         "the cloned form")
    assert by_id(driver, "train_epochs").get_attribute("value") == "4"
    assert by_id(driver, "batch_size").get_attribute("value") == "32"
    assert "ContrastiveLoss" in by_id(driver, "custom_network").get_attribute("value")
    from selenium.webdriver.support.ui import Select
    assert Select(by_id(driver, "lr_policy")).first_selected_option.text == "fixed"
    wait(driver, lambda d: int(by_id(d, "lr-chart").get_attribute("data-points")) > 0,
         "the learning-rate preview")
    fixed = lr_last(driver)
    assert float(fixed) == pytest.approx(0.01, rel=1e-6)
    Select(by_id(driver, "lr_policy")).select_by_value("step")
    wait(driver, lambda d: lr_last(d) != fixed, "the preview to follow the policy")
    assert float(lr_last(driver)) == pytest.approx(1e-5, rel=1e-5)       # steps at 33/66/99 %
    fill(driver, {"model_name": "clone of tiny", "train_epochs": "2"})
    fits(driver)
    driver.execute_script("document.getElementById('lr-preview').scrollIntoView();")
    shoot(driver, "new-model-lr-preview.png")
    by_id(driver, "create-model").click()
    wait(driver, lambda d: "/models/2" in d.current_url and by_id(d, "status").text == "Done",
         "the clone to train", timeout=300)
    assert "clone of tiny" in driver.find_element("tag name", "h1").text
    assert "20 iterations · 2 epochs" in by_id(driver, "progress-facts").text

    # Download: the archive the button gives, as .tar.gz and as .zip
    assert by_id(driver, "download").is_enabled()
    status, magic, size, disposition = fetch_bytes(driver, "download-form")
    assert status == 200 and magic == [0x1F, 0x8B] and size > 100_000
    assert disposition.endswith("_epoch_2.tar.gz")
    Select(by_id(driver, "download-format")).select_by_value("zip")
    status, magic, size, disposition = fetch_bytes(driver, "download-form")
    assert status == 200 and magic == [0x50, 0x4B] and disposition.endswith(".zip")
    wait(driver, lambda d: loaded(d, "#network-image")[0] > 0, "the network picture")
    assert by_id(driver, "network-link").get_attribute("href").endswith("/files/network.png")
    fits(driver)
    shoot(driver, "model-page.png")

    # Test a DB: the validation pairs, their verdicts a page at a time, the accuracy
    by_id(driver, "test-db-button").click()
    wait(driver, lambda d: d.find_elements("id", "db-pairs"), "Test a DB's table")
    assert "96 pairs" in by_id(driver, "db-summary").text
    assert by_id(driver, "db-accuracy").text.startswith("Accuracy: ")
    visible = lambda d: [r for r in d.find_elements("css selector", "#db-pairs tbody tr")
                         if r.is_displayed()]
    assert len(visible(driver)) == 50
    first = visible(driver)[0].text
    driver.find_element("css selector", ".pager .page-next").click()
    assert len(visible(driver)) == 46 and visible(driver)[0].text != first
    assert "rows 51–96 of 96" in driver.find_element("css selector", ".pager").text
    fits(driver)
    driver.execute_script("window.scrollTo(0, 0);")
    shoot(driver, "test-db.png")

    # a mistake stays beside the form; Test One takes the dataset's test pairs by name
    driver.back()
    wait(driver, lambda d: d.find_elements("id", "db_path"), "the model page again")
    fill(driver, {"db_path": "siamesedb/nowhere"})
    by_id(driver, "test-db-button").click()
    error = wait(driver, lambda d: by_id(d, "test-db-error").is_displayed()
                 and by_id(d, "test-db-error").text, "Test a DB's error beside its form")
    assert 'DB "siamesedb/nowhere" does not exist' in error and "/models/2" in driver.current_url
    driver.get(f"{server.url}/models/{job_id}")     # a create-db dataset has test pairs
    Select(by_id(driver, "test_picture")).select_by_value("val_test_same_class_3.png")
    by_id(driver, "test-one-button").click()
    wait(driver, lambda d: d.find_elements("id", "distance"), "Test One's answer")
    assert float(by_id(driver, "distance").text) >= 0
    assert "val_test_same_class_3.png" in driver.page_source

    # Test Many pages its rows and fits the window
    driver.get(f"{server.url}/models/{job_id}")
    by_id(driver, "image_list").send_keys(os.path.join(data, "train.txt"))
    by_id(driver, "test-many-button").click()
    wait(driver, lambda d: d.find_elements("id", "predictions"), "Test Many's table")
    rows = [r for r in driver.find_elements("css selector", "#predictions tbody tr")
            if r.is_displayed()]
    assert len(rows) == 50 and "rows 1–50 of 240" in \
        driver.find_element("css selector", ".pager").text
    fits(driver)

    # home: filter, sort, select several and delete
    driver.get(server.url + "/")
    assert "clone of tiny" in by_id(driver, "models").text
    fits(driver)
    shown = lambda d: [r.get_attribute("data-name") for r in
                       d.find_elements("css selector", "#models tbody tr") if r.is_displayed()]
    assert sorted(shown(driver)) == sorted(["clone of tiny", job_id])
    fill(driver, {"job-filter": "clone"})
    assert shown(driver) == ["clone of tiny"]
    fill(driver, {"job-filter": ""})
    driver.find_element("css selector", '#models th[data-key="name"]').click()
    assert shown(driver) == sorted(shown(driver), key=str.lower)
    driver.find_element("css selector", '#models th[data-key="name"]').click()
    assert shown(driver) == sorted(shown(driver), key=str.lower, reverse=True)
    assert not by_id(driver, "delete-selected").is_enabled()
    clone_row = driver.find_element("css selector", '#models tr[data-name="clone of tiny"]')
    clone_row.find_element("css selector", ".select-job").click()
    by_id(driver, "delete-selected").click()
    driver.switch_to.alert.accept()
    wait(driver, lambda d: shown(d) == [job_id], "the selected model to be deleted")
    problems = [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"
                and "status of 400" not in e["message"]]        # the mistake made on purpose
    assert not problems, problems
