//! The `me` root in a plan: written from the verified caller alone, as the
//! resolver answers it (no statement, no guard: any signed-in caller).
use async_graphql::OutputType;

use super::{enum_name, is_leaf, json::Json, select::Selected, Compiler, Fields};
use crate::{
    resolvers::auth::{Me, Role, Tenant},
    tenancy::TenantContext,
};

#[derive(Debug)]
pub(super) enum MeField {
    Typename,
    Id,
    Email,
    Role,
    Tenant(Fields<TenantField>),
}

#[derive(Debug)]
pub(super) enum TenantField {
    Typename,
    Id,
    Slug,
    Name,
    Status,
}

impl<'d> Compiler<'d> {
    pub(super) fn me(&mut self, selected: &Selected<'d>) -> Option<Fields<MeField>> {
        if !selected.field.arguments.is_empty() {
            return None;
        }
        self.fields(&Me::type_name(), &selected.sets, |compiler, field| {
            let leaf = match field.name() {
                "tenant" => {
                    return compiler
                        .leaves(&Tenant::type_name(), field, |name| {
                            Some(match name {
                                "__typename" => TenantField::Typename,
                                "id" => TenantField::Id,
                                "slug" => TenantField::Slug,
                                "name" => TenantField::Name,
                                "status" => TenantField::Status,
                                _ => return None,
                            })
                        })
                        .map(MeField::Tenant)
                }
                "__typename" => MeField::Typename,
                "id" => MeField::Id,
                "email" => MeField::Email,
                "role" => MeField::Role,
                _ => return None,
            };
            is_leaf(field).then_some(leaf)
        })
    }
}

pub(super) fn write_me(out: &mut Json, fields: &Fields<MeField>, caller: &TenantContext) {
    let _ = out.object(fields, |out, field| {
        match field {
            MeField::Typename => out.str(&Me::type_name()),
            MeField::Id => out.str(&caller.user_id),
            MeField::Email => out.str(&caller.email),
            MeField::Role => out.str(enum_name(Role::from(caller.role))),
            MeField::Tenant(fields) => match &caller.tenant {
                None => out.null(),
                Some(tenant) => write_tenant(out, fields, &Tenant::from(tenant)),
            },
        }
        Some(())
    });
}

fn write_tenant(out: &mut Json, fields: &Fields<TenantField>, tenant: &Tenant) {
    let _ = out.object(fields, |out, field| {
        match field {
            TenantField::Typename => out.str(&Tenant::type_name()),
            TenantField::Id => out.str(&tenant.id),
            TenantField::Slug => out.str(&tenant.slug),
            TenantField::Name => out.str(&tenant.name),
            TenantField::Status => out.str(enum_name(tenant.status)),
        }
        Some(())
    });
}
