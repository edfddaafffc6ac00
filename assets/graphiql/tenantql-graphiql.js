// Starts GraphiQL for tenantql. Loaded as a file (the page's CSP allows no inline
// script). The token typed into the bar is kept in sessionStorage only: it is gone
// when the tab closes, and it is sent as `Authorization: Bearer …` on HTTP and as
// `connection_init` payload `{ "authorization": "Bearer …" }` on WebSocket.
(function () {
  'use strict';
  var STORAGE_KEY = 'tenantql.token';
  var root = document.getElementById('graphiql');
  var tokenBox = document.getElementById('tq-token');
  var forget = document.getElementById('tq-forget');
  var endpoint = root.getAttribute('data-endpoint');
  var wsScheme = window.location.protocol === 'https:' ? 'wss:' : 'ws:';
  var subscriptionUrl = wsScheme + '//' + window.location.host + endpoint;

  tokenBox.value = window.sessionStorage.getItem(STORAGE_KEY) || '';
  tokenBox.addEventListener('input', function () {
    window.sessionStorage.setItem(STORAGE_KEY, tokenBox.value.trim());
  });
  forget.addEventListener('click', function () {
    tokenBox.value = '';
    window.sessionStorage.removeItem(STORAGE_KEY);
  });

  function bearer() {
    var token = tokenBox.value.trim().replace(/^Bearer\s+/i, '');
    return token ? 'Bearer ' + token : null;
  }

  // A fetcher per operation, so the token in the box at the time of the call is used.
  function fetcher(params, options) {
    var authorization = bearer();
    return GraphiQL.createFetcher({
      url: endpoint,
      subscriptionUrl: subscriptionUrl,
      headers: authorization ? { Authorization: authorization } : {},
      wsConnectionParams: authorization ? { authorization: authorization } : {},
    })(params, options);
  }

  var search = new URLSearchParams(window.location.search);
  var props = {
    fetcher: fetcher,
    defaultQuery: '# Paste a token above, then run:\n{ me { email role tenant { slug } } }\n',
    shouldPersistHeaders: false,
  };
  if (search.get('query')) {
    props.query = search.get('query');
  }
  ReactDOM.createRoot(root).render(React.createElement(GraphiQL, props));
})();
