// Apollo Client's own persisted-queries link against a running tenantql.
// Usage: node apq.mjs <graphql url> <bearer token>
// Prints one JSON object: what each operation answered, and every HTTP request
// the client sent (method, whether it carried the query text).
import { createHash } from "node:crypto";
import { ApolloClient, HttpLink, InMemoryCache, gql } from "@apollo/client";
import { PersistedQueryLink } from "@apollo/client/link/persisted-queries";

const [url, token] = process.argv.slice(2);
const sent = [];
const recordingFetch = async (input, init = {}) => {
  const target = new URL(String(input));
  const body = typeof init.body === "string" ? JSON.parse(init.body) : null;
  sent.push({
    method: init.method ?? "GET",
    withQuery: Boolean(body?.query ?? target.searchParams.get("query")),
    hashed: Boolean(
      body?.extensions?.persistedQuery ?? target.searchParams.get("extensions"),
    ),
  });
  return fetch(input, init);
};

// A fresh client: its link knows nothing of what earlier clients registered.
const client = () =>
  new ApolloClient({
    cache: new InMemoryCache(),
    link: new PersistedQueryLink({
      sha256: (text) => createHash("sha256").update(text).digest("hex"),
      useGETForHashedQueries: true,
    }).concat(
      new HttpLink({
        uri: url,
        fetch: recordingFetch,
        headers: {
          authorization: `Bearer ${token}`,
          // GET needs a header only a preflighted request can carry (CSRF).
          "apollo-require-preflight": "true",
        },
      }),
    ),
  });

const ME = gql`
  query Me {
    me {
      email
      tenant {
        slug
      }
    }
  }
`;
const SELECT = gql`
  mutation Select($tenant: String!) {
    selectTenant(tenant: $tenant) {
      tenant {
        slug
      }
    }
  }
`;

const out = { queries: [], mutations: [], sent };
try {
  for (let i = 0; i < 2; i++) {
    const { data } = await client().query({ query: ME, fetchPolicy: "network-only" });
    out.queries.push(data.me);
  }
  for (let i = 0; i < 2; i++) {
    const { data } = await client().mutate({
      mutation: SELECT,
      variables: { tenant: "acme" },
    });
    out.mutations.push(data.selectTenant.tenant);
  }
} catch (error) {
  out.error = String(error?.stack ?? error);
}
console.log(JSON.stringify(out));
